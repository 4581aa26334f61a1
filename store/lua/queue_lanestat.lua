-- store/queue.c pacer_queue_lanestat_set: publishes this process's lane
-- snapshot for `pacer stats` (store/stats_view.c reads it).
-- KEYS: <prefix>lanestat:<consumer>  ARGV: json ttl_ms
return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
