-- KEYS: hash lock  ARGV: lockval send_id known ttl_ms
-- The send fence, run before every token request (docs/CREDENTIALS.md,
-- One refresh token, one POST). The request may go out only while the lock
-- still holds our value: a holder that was stopped past the lock's lease
-- finds -1 and never sends. It counts, in rt_unknown, the sends of the
-- stored refresh token whose outcome is not known yet: 1 for the first,
-- 2 for the one replay after an unknown outcome; a third is refused (-3).
-- known "1": the previous request of this refresh was answered or never
-- left, so the count restarts. send_id (lockval:attempt) makes a replay of
-- this script after a lost reply count once. Renews the lock's lease.
-- Returns the count, -1 (the lock is not ours) or -3 (replay spent).
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if redis.call('HGET', KEYS[1], 'send_id') == ARGV[2] then
  return tonumber(redis.call('HGET', KEYS[1], 'rt_unknown') or '1')
end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'rt_unknown', '0') end
local n = tonumber(redis.call('HGET', KEYS[1], 'rt_unknown') or '0')
if n >= 2 then return -3 end
redis.call('HSET', KEYS[1], 'rt_unknown', n + 1, 'send_id', ARGV[2])
return n + 1
