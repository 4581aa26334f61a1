-- store/queue_schedule.c pacer_queue_schedule_list: every schedule's
-- definition. KEYS: schedules. Returns {name1, def1, name2, def2, ...}.
return redis.call('HGETALL', KEYS[1])
