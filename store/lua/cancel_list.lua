-- store/cancel.c pacer_cancel_poll: the ids a worker must cancel.
-- KEYS: cancel (<prefix>cancel)  ARGV: max
-- Returns up to max ids asked for within the last 24 h, oldest first.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - 86400000, '+inf',
                  'LIMIT', 0, tonumber(ARGV[1]))
