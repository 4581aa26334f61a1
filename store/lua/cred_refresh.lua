-- KEYS: hash channel. Expires the stored access token and announces it:
-- every worker's sync finds it expiring and one renews it (the refresh
-- lock decides which). Returns the generation, -1 when the credential has
-- never been used, or -2 when it needs re-authorisation.
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return -1 end
if redis.call('HGET', KEYS[1], 'status') == 'reauth_required' then
  return -2
end
redis.call('HSET', KEYS[1], 'expires_at_ms', '1')
local gen = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
redis.call('PUBLISH', KEYS[2], gen .. ':refresh')
return gen
