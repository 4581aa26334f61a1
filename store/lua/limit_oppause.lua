-- store/control.c pacer_control_pause / _resume: an operator pause of one
-- limit bucket (`pacer pause`, `pacer resume`).
-- KEYS: bucket (<prefix>limit:<bucket>, store/limiter.h draws the hash)
-- ARGV: 'pause' for_ms forever_us  |  'resume'
-- pause: op_until = Redis now + for_ms (for_ms 0: forever_us, until a
-- resume). limit_take.lua then grants no slot to any process until then;
-- pause_until stays the upstream's own. The hash lives as long as the
-- pause (PERSIST, or at least for_ms + 1 h), since an idle bucket's state
-- otherwise expires after an hour. Returns 1.
-- resume: deletes op_until; returns 1 when the bucket was paused, else 0.
local STATE_TTL_MS = 3600000 -- idle bucket state kept, ms
if ARGV[1] == 'resume' then
  local was = redis.call('HDEL', KEYS[1], 'op_until')
  if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], STATE_TTL_MS)
  end
  return was
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local for_ms = tonumber(ARGV[2])
if for_ms > 0 then
  redis.call('HSET', KEYS[1], 'op_until', string.format('%.0f', now + for_ms * 1000))
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl >= 0 and ttl < for_ms + STATE_TTL_MS then
    redis.call('PEXPIRE', KEYS[1], for_ms + STATE_TTL_MS)
  end
else
  redis.call('HSET', KEYS[1], 'op_until', ARGV[3])
  redis.call('PERSIST', KEYS[1])
end
return 1
