-- store/queue.c pacer_queue_finish: writes a job's result and acks it.
-- KEYS: stream results dead done (stream: the one the sid came from)
-- ARGV: group id results_maxlen dead_maxlen ack_required nres res...
--       ndead dead... done_ttl_ms consumer
-- With ack_required "1": fenced by the pending check, then the done-marker
-- of the job id (KEYS[4], store/keys.h; set only for ok results, whose
-- done_ttl_ms is > 0): when another entry with the same job id already
-- finished ok within done_ttl_ms, this one is acked and deleted without a
-- second result (returns 2). Otherwise writes the result (and dead
-- letter), sets the marker, acks and deletes (returns 1).
-- Every write script first checks that the entry is still pending (so a
-- replay after a lost reply writes nothing twice), then checks the types of
-- the keys it writes, then writes, and acknowledges last: Redis does not
-- roll a script back on error, so an error before the XACK leaves the entry
-- pending and the write is retried; nothing is acked without its record.
-- The pending check: the entry must still be pending (0 otherwise: a
-- replay, or another consumer finished it) and owned by this consumer, the
-- last argument (-1 otherwise: our lease was lost and another consumer took
-- the entry over, so this write is fenced off; tests/integration e2e_fence).
if ARGV[5] == '1' then
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
  if #p == 0 then return 0 end
  if p[1][2] ~= ARGV[#ARGV] then return -1 end
end
do local t = redis.call('TYPE', KEYS[2]).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' is a ' .. t ..
                             ', not a stream')
  end
end
do local t = redis.call('TYPE', KEYS[3]).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[3] .. ' is a ' .. t ..
                             ', not a stream')
  end
end
local nres = tonumber(ARGV[6])
local a = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*'}
for i = 7, 6 + nres do a[#a + 1] = ARGV[i] end
local base = 7 + nres
local ndead = tonumber(ARGV[base])
local d = {'XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*'}
for i = base + 1, base + ndead do d[#d + 1] = ARGV[i] end
local ttl = tonumber(ARGV[base + ndead + 1])
local mark = ARGV[5] == '1' and ttl > 0
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
  return 2
end
redis.call(unpack(a))
if ndead > 0 then redis.call(unpack(d)) end
if mark then
  redis.call('SET', KEYS[4], ARGV[2], 'PX', ttl)
end
if ARGV[5] == '1' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
