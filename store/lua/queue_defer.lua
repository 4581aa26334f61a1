-- store/queue.c pacer_queue_defer: moves a job into the delayed set.
-- KEYS: stream delayed  ARGV: group id due member tag consumer
-- A non-empty tag ("h", "l") names the member's stream; it goes in as a
-- line of its own after the attempt: "<id>\n<attempt>\n<tag>\n<job>"
-- (store/keys.h, store/delayed.h). The same arguments always make the same
-- member, so a replay stays a no-op.
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
do local t = redis.call('TYPE', KEYS[2]).ok
  if t ~= 'zset' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' is a ' .. t ..
                             ', not a zset')
  end
end
local m = ARGV[4]
if ARGV[5] ~= '' then
  local a = string.find(m, '\n', 1, true)
  local b = a and string.find(m, '\n', a + 1, true)
  if b then
    m = string.sub(m, 1, b) .. ARGV[5] .. '\n' .. string.sub(m, b + 1)
  end
end
redis.call('ZADD', KEYS[2], ARGV[3], m)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
