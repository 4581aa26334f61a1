-- KEYS: hash lock  ARGV: lockval status last_error channel release
--       lock_generation
-- Records a failure (fenced by the lock and by the generation: a refresh
-- token stored by `pacer cred set` meanwhile is not marked refused).
-- release "1" also drops the lock.
local held = redis.call('GET', KEYS[2])
if held and held ~= ARGV[1] then return -1 end
if tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') ~=
   tonumber(ARGV[6]) then
  redis.call('DEL', KEYS[2])
  return -2
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'last_error', ARGV[3],
           'updated_at_ms', now)
if ARGV[5] == '1' then redis.call('DEL', KEYS[2]) end
local gen = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
redis.call('PUBLISH', ARGV[4], gen .. ':' .. ARGV[2])
return gen
