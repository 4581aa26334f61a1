-- store/queue.c pacer_queue_finish: writes a job's result and acks it.
-- KEYS: stream results dead done result deadjob cancel donemarks claim
--       (stream: the one the sid came from; done: <prefix>done:<id> of
--       older versions; result, deadjob: <prefix>result:<id>,
--       <prefix>deadjob:<id>; cancel: <prefix>cancel; donemarks: the
--       bucket prefix <prefix>donemarks:); claim: <prefix>claim:<id>,
--       deleted when this entry holds it (store/lua/queue_dropdone.lua)
-- ARGV: group id results_maxlen dead_maxlen ack_required nres res...
--       ndead dead... done_ttl_ms result_ttl_ms dead_ttl_ms job_id mark
--       consumer (mark "1": the result is ok, set the job id's marker)
-- The result index (KEYS[5], PX result_ttl_ms > 0) names the result entry
-- of the job id for `pacer result`. With a dead letter and dead_ttl_ms > 0,
-- KEYS[6] keeps the entry's original job text (secrets intact, never
-- shown) and its stream for `pacer dead retry` (store/dead.c); one dead
-- letter per job id: an older one of the same id is deleted, and an ok
-- result deletes both (docs/REDIS.md "Dead letters"). A result answers a
-- cancel request of its id (KEYS[7], store/cancel.h): it is removed.
-- With ack_required "1": fenced by the pending check, then the done-marker
-- of the job id (below; set only for ok results when done_ttl_ms > 0): when another entry with the same job id already
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
-- Done-markers: now_ms, is_done, mark_done (lib_done.lua).
--! include lib_done.lua
if ARGV[5] == '1' then
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
  if #p == 0 then return 0 end
  if p[1][2] ~= ARGV[#ARGV] then return -1 end
end
if redis.pcall('GET', KEYS[9]) == ARGV[2] .. ' ' .. KEYS[1] then
  redis.call('DEL', KEYS[9])
end
do local t = redis.call('TYPE', KEYS[2]).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' is a ' .. t ..
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
local rttl = tonumber(ARGV[base + ndead + 2])
local dttl = tonumber(ARGV[base + ndead + 3])
local jid = ARGV[base + ndead + 4]
local mark = ARGV[5] == '1' and ttl > 0 and ARGV[base + ndead + 5] == '1'
local now = ARGV[5] == '1' and now_ms() or 0
if ARGV[5] == '1' and is_done(KEYS[4], KEYS[8], jid, ttl, now) then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
  return 2
end
-- The kept original (KEYS[6]) is only ever written below, always with its
-- "dead" field: without one there is nothing to delete. The dead stream is
-- written only with a dead letter or an older one to delete, so its type
-- is checked only then (one command less per ok result).
local olddead = redis.call('HGET', KEYS[6], 'dead')
if ndead > 0 or olddead then
  local t = redis.call('TYPE', KEYS[3]).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[3] .. ' is a ' .. t ..
                             ', not a stream')
  end
end
local rid = redis.call(unpack(a))
if rttl > 0 then redis.call('SET', KEYS[5], rid, 'PX', rttl) end
for i = 7, 5 + nres, 2 do
  if ARGV[i] == 'id' then redis.call('ZREM', KEYS[7], ARGV[i + 1]) end
end
if olddead then
  redis.call('XDEL', KEYS[3], olddead)
  redis.call('DEL', KEYS[6])
end
if ndead > 0 then
  local did = redis.call(unpack(d))
  local e = dttl > 0 and redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) or {}
  if #e > 0 then
    local f, h = e[1][2], {'HSET', KEYS[6], 'stream', KEYS[1], 'dead', did}
    for i = 1, #f - 1, 2 do
      if f[i] == 'job' or f[i] == 'id' then
        h[#h + 1] = f[i]
        h[#h + 1] = f[i + 1]
      end
    end
    redis.call(unpack(h))
    redis.call('PEXPIRE', KEYS[6], dttl)
  end
end
if mark then mark_done(KEYS[8], jid, ttl, now) end
if ARGV[5] == '1' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
