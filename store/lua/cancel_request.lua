-- store/cancel.c pacer_cancel_request: records `pacer cancel ID`.
-- KEYS: cancel (<prefix>cancel)  ARGV: id
-- Adds id at Redis now (unix ms) and drops requests older than 24 h that
-- no job answered. Workers poll the set (cancel_list.lua); the id's
-- result removes it (queue_finish.lua). Returns now, unix ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 86400000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
