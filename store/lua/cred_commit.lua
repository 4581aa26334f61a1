-- KEYS: hash lock
-- ARGV: lockval access_token expires_at_ms refresh_token('' = keep)
--       lifetime_s channel lock_generation
-- The fenced write, before any job uses the token. The fence is the
-- generation seen when we took the lock: while it is unchanged nobody else
-- has stored a token, so ours (and its rotated refresh token, which the
-- provider has already issued) must land even if our lock expired meanwhile
-- (a Redis outage, a stall); dropping it would leave only a spent refresh
-- token (docs/CREDENTIALS.md, step 3). A changed generation means another
-- token or `pacer cred set` won: ours is dropped. A replay after a lost reply finds its own
-- commit (committed_by) and answers the generation again.
-- Returns the new generation, or -2 when the generation moved.
if redis.call('HGET', KEYS[1], 'committed_by') == ARGV[1] then
  return tonumber(redis.call('HGET', KEYS[1], 'generation'))
end
local held = redis.call('GET', KEYS[2])
if tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') ~=
   tonumber(ARGV[7]) then
  if held == ARGV[1] then redis.call('DEL', KEYS[2]) end
  return -2
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = redis.call('HINCRBY', KEYS[1], 'generation', 1)
redis.call('HSET', KEYS[1], 'access_token', ARGV[2],
           'expires_at_ms', ARGV[3], 'lifetime_s', ARGV[5],
           'status', 'ok', 'last_error', '', 'updated_at_ms', now,
           'committed_by', ARGV[1])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'refresh_token', ARGV[4])
end
if held == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[6], gen)
return gen
