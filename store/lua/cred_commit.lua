-- KEYS: hash lock
-- ARGV: lockval access_token expires_at_ms refresh_token('' = keep)
--       lifetime_s channel lock_generation
-- The fenced write, before any job uses the token (docs/CREDENTIALS.md,
-- step 3). It lands only while the lock holds our value: the lock outlives
-- a token request (lock_ttl_ms > token_timeout_ms, renewed while the
-- request is out), so a holder that lost it was stopped longer than that,
-- and another process may already be acting on the same refresh token.
-- The generation seen when we took the lock is the second fence: a
-- changed generation means `pacer cred set` stored a new refresh token,
-- and ours is dropped. A replay after a lost reply finds its own commit
-- (committed_by) and answers the generation again. The count of sends with
-- an unknown outcome restarts (cred_send.lua).
-- Returns the new generation, -1 when the lock is not ours, or -2 when the
-- generation moved.
if redis.call('HGET', KEYS[1], 'committed_by') == ARGV[1] then
  return tonumber(redis.call('HGET', KEYS[1], 'generation'))
end
local held = redis.call('GET', KEYS[2])
if held ~= ARGV[1] then return -1 end
if tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') ~=
   tonumber(ARGV[7]) then
  redis.call('DEL', KEYS[2])
  return -2
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = redis.call('HINCRBY', KEYS[1], 'generation', 1)
redis.call('HSET', KEYS[1], 'access_token', ARGV[2],
           'expires_at_ms', ARGV[3], 'lifetime_s', ARGV[5],
           'status', 'ok', 'last_error', '', 'updated_at_ms', now,
           'committed_by', ARGV[1])
redis.call('HDEL', KEYS[1], 'rt_unknown', 'send_id')
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'refresh_token', ARGV[4])
end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[6], gen)
return gen
