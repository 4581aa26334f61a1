-- KEYS: inflight sets of the capped buckets
-- ARGV: token lease_ms max_1 ... max_n
-- Returns 1 (token holds a permit in every set) or 0 (one is full).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
local held = true
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if not redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    held = false
    if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[2 + i]) then
      return 0
    end
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + lease, ARGV[1])
  if redis.call('PTTL', KEYS[i]) < lease + 60000 then
    redis.call('PEXPIRE', KEYS[i], lease + 60000)
  end
end
return 1
