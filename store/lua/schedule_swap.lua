-- store/queue_schedule.c pacer_schedule_store_swap: replaces a schedule's
-- definition only if it is still the one the caller read.
-- KEYS: schedules  ARGV: name old new
-- Returns 1 (replaced), 0 (changed since), -1 (no such schedule).
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
