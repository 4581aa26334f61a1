-- store/queue.c pacer_queue_defer: moves a job into the delayed set.
-- KEYS: stream delayed [claim]  ARGV: group id due member claim_ttl_ms
--       consumer
-- When this entry holds its job id's claim (<prefix>claim:<id>, set by
-- queue_dropdone.lua), the claim moves with the job: "z <due> <sha1 of
-- member>", so a copy of the id arriving while the job waits here is
-- still folded into it (docs/REDIS.md "One job id at a time").
-- The member (store/keys.h, built by store/delayed.h) carries the tag of
-- the stream the job came from. The same arguments always make the same
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
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
if KEYS[3] and redis.pcall('GET', KEYS[3]) == ARGV[2] .. ' ' .. KEYS[1] then
  redis.call('SET', KEYS[3], 'z ' .. ARGV[3] .. ' ' .. redis.sha1hex(ARGV[4]),
             'PX', ARGV[5])
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
