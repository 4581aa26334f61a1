-- KEYS: hash lock  ARGV: lockval ttl_ms stale_gen skew_ms channel mode
-- mode "need": adopt a newer usable token, or take the lock (or find we
-- hold it already, after a lost reply) and mark the hash refreshing.
-- mode "sync": only report what changed, never lock.
-- Replies: {1, gen, refresh_token, lifetime_s}  we hold the lock: refresh
--          {0, lock_pttl_ms}                    someone else refreshes
--          {2, gen, last_error}                 reauth_required
--          {3, gen, access_token, expires_at_ms, lifetime_s}  adopt
--          {4, gen, status}                     nothing to adopt (sync)
--          {6, gen}        the stored token expires within skew, or a
--                          newer generation has no token yet (sync;
--                          `pacer cred refresh` / `cred set`): renew
-- skew is refresh_skew_s, at most half the stored lifetime, so a token
-- that lives no longer than the skew is still used (not refreshed in a
-- loop). In sync mode ARGV[3] is the generation we hold.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HGETALL', KEYS[1])
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
local gen = tonumber(f.generation or '0')
local life = tonumber(f.lifetime_s or '0')
local skew = tonumber(ARGV[4])
if life > 0 and skew > life * 500 then skew = life * 500 end
if f.status == 'reauth_required' then
  return {2, gen, f.last_error or ''}
end
local held = redis.call('GET', KEYS[2])
if held and held == ARGV[1] then
  return {1, gen, f.refresh_token or '', life}
end
local exp = tonumber(f.expires_at_ms or '0')
if not held and (f.access_token or '') ~= '' and
   gen > tonumber(ARGV[3]) and exp > now + skew then
  return {3, gen, f.access_token, exp, life}
end
if held then return {0, redis.call('PTTL', KEYS[2])} end
if ARGV[6] ~= 'need' then
  if (f.access_token or '') == '' and gen > tonumber(ARGV[3]) then
    return {6, gen}
  end
  if (f.access_token or '') ~= '' and exp <= now + skew then
    return {6, gen}
  end
  return {4, gen, f.status or ''}
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'refreshing', 'updated_at_ms', now)
redis.call('PUBLISH', ARGV[5], gen .. ':refreshing')
return {1, gen, f.refresh_token or '', life}
