-- KEYS: cred hash, delayed, refresh lock
-- ARGV: refresh token, name, park score, channel
--       [access token, expires_at_ms, lifetime_s]  (`pacer cred authorize`)
-- Stores a new refresh token (a new grant: generation + 1, status ok,
-- reauth_required cleared), and with an access token stores it as a
-- refresh's commit does (cred_commit.lua); without one the access token is
-- cleared and the first job fetches one.
-- Returns {generation, released, lock PTTL (-2: no refresh in flight)}. Types
-- are checked before the first write, because a script that fails half-way
-- keeps what it wrote. A parked member whose JSON part does not decode stays
-- parked: releasing it could not tell which credential it waits for.
local th = redis.call('TYPE', KEYS[1]).ok
local td = redis.call('TYPE', KEYS[2]).ok
if th ~= 'hash' and th ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is not a hash')
end
if td ~= 'zset' and td ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[2] ..
                           ' is not a sorted set')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = redis.call('HINCRBY', KEYS[1], 'generation', 1)
local access, exp, life = ARGV[5] or '', ARGV[6] or '0', ARGV[7]
if access == '' then exp = '0' end
redis.call('HSET', KEYS[1], 'refresh_token', ARGV[1],
           'access_token', access, 'expires_at_ms', exp, 'status', 'ok',
           'last_error', '', 'updated_at_ms', tostring(now))
if access ~= '' and life then
  redis.call('HSET', KEYS[1], 'lifetime_s', life)
end
redis.call('HDEL', KEYS[1], 'rt_unknown', 'send_id')
local released = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[3],
                              '+inf')) do
  local a = string.find(m, '\n', 1, true)
  local b = a and string.find(m, '\n', a + 1, true)
  local j = string.find(m, '{', b and b + 1 or 1, true)
  if j then
    local ok, job = pcall(cjson.decode, string.sub(m, j))
    if ok and type(job) == 'table' and job['credential'] == ARGV[2] then
      redis.call('ZADD', KEYS[2], now, m)
      released = released + 1
    end
  end
end
redis.call('PUBLISH', ARGV[4], tostring(gen))
return {gen, released, redis.call('PTTL', KEYS[3])}
