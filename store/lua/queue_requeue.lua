-- store/queue.c pacer_queue_requeue: the job goes back to the end of the
-- stream it came from.
-- KEYS: stream  ARGV: group id field value ... consumer
-- Every write script first checks that the entry is still pending (so a
-- replay after a lost reply writes nothing twice), then checks the types of
-- the keys it writes, then writes, and acknowledges last: Redis does not
-- roll a script back on error, so an error before the XACK leaves the entry
-- pending and the write is retried; nothing is acked without its record.
-- The pending check: the entry must still be pending (0 otherwise: a
-- replay, or another consumer finished it) and owned by this consumer, the
-- last argument (-1 otherwise: our lease was lost and another consumer took
-- the entry over, so this write is fenced off; tests/integration e2e_fence).
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
if p[1][2] ~= ARGV[#ARGV] then return -1 end
local a = {'XADD', KEYS[1], '*'}
for i = 3, #ARGV - 1 do a[#a + 1] = ARGV[i] end
redis.call(unpack(a))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
