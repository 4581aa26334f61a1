-- KEYS: hash lock  ARGV: lockval status last_error channel release
--       lock_generation known
-- Records a failure, fenced by the lock (only the holder of our lock value
-- writes; -1 otherwise) and by the generation (a refresh token stored by
-- `pacer cred set` meanwhile is not marked refused; -2). reauth_required
-- is never overwritten by a note: only `pacer cred set` or `cred
-- authorize` clears it (cred_set.lua). release "1" also drops the lock.
-- known "1": the request's outcome is known, so the count of sends with
-- an unknown outcome restarts (cred_send.lua).
local held = redis.call('GET', KEYS[2])
if held ~= ARGV[1] then return -1 end
if tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') ~=
   tonumber(ARGV[6]) then
  redis.call('DEL', KEYS[2])
  return -2
end
if redis.call('HGET', KEYS[1], 'status') == 'reauth_required' and
   ARGV[2] ~= 'reauth_required' then
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'last_error', ARGV[3],
           'updated_at_ms', now)
if ARGV[7] == '1' then redis.call('HSET', KEYS[1], 'rt_unknown', '0') end
if ARGV[5] == '1' then redis.call('DEL', KEYS[2]) end
local gen = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
redis.call('PUBLISH', ARGV[4], gen .. ':' .. ARGV[2])
return gen
