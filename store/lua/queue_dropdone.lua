-- store/queue.c pacer_queue_drop_if_done: intake's duplicate check and
-- the job id's claim (docs/REDIS.md "One job id at a time").
-- KEYS: stream done donemarks claim jobs:high jobs jobs:low delayed
--   (done: <prefix>done:<id> of older versions; donemarks: the bucket
--   prefix <prefix>donemarks:; claim: <prefix>claim:<id>)
-- ARGV: group id done_ttl_ms job_id claim_ttl_ms consumer
-- When the job id's done-marker exists (below), the entry (still ours) is
-- acked and deleted unsent (returns 1). Otherwise the claim ("<entry id>
-- <stream key>") names the one entry of this job id that may run: when
-- another entry holds it and that entry is still pending in the group
-- (queued or running anywhere), or names a member still in the delayed
-- set ("z <due> <sha1 of member>", queue_defer.lua: a retry or a
-- throttled job waiting there), this entry is folded into it: acked and
-- deleted unsent, no request and no result of its own (returns 3). A
-- claim whose entry is no longer pending nor delayed (acked without its
-- claim cleared, promoted, or a claim left by a crash) is stale and is
-- taken over; the same entry delivered again (XAUTOCLAIM) keeps its
-- claim. 0 or -1 means run it.
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
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
if p[1][2] ~= ARGV[#ARGV] then return -1 end
if is_done(KEYS[2], KEYS[3], ARGV[4], tonumber(ARGV[3]), now_ms()) then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
  return 1
end
-- GET fails on a key of another type: only then is TYPE asked, for the
-- message (one command less per job).
local cur = redis.pcall('GET', KEYS[4])
if type(cur) == 'table' and cur.err then
  return redis.error_reply('WRONGTYPE ' .. KEYS[4] .. ' is a ' ..
                           redis.call('TYPE', KEYS[4]).ok .. ', not a string')
end
local me = ARGV[2] .. ' ' .. KEYS[1]
if cur and string.sub(cur, 1, 2) == 'z ' then
  -- At most 64 members share one due time before the claim counts as
  -- stale (parked jobs share one score): a bounded check, never a scan.
  local sp = string.find(cur, ' ', 3, true)
  local due = sp and string.sub(cur, 3, sp - 1)
  local sum = sp and string.sub(cur, sp + 1)
  if due and tonumber(due) then
    local ms = redis.pcall('ZRANGEBYSCORE', KEYS[8], due, due, 'LIMIT', 0, 64)
    if type(ms) == 'table' and not ms.err then
      for _, m in ipairs(ms) do
        if redis.sha1hex(m) == sum then
          redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
          redis.call('XDEL', KEYS[1], ARGV[2])
          return 3
        end
      end
    end
  end
elseif cur and cur ~= me then
  local sp = string.find(cur, ' ', 1, true)
  local oid = sp and string.sub(cur, 1, sp - 1)
  local okey = sp and string.sub(cur, sp + 1)
  if okey == KEYS[5] or okey == KEYS[6] or okey == KEYS[7] then
    local o = redis.pcall('XPENDING', okey, ARGV[1], oid, oid, 1)
    if type(o) == 'table' and not o.err and #o > 0 then
      redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
      redis.call('XDEL', KEYS[1], ARGV[2])
      return 3
    end
  end
end
redis.call('SET', KEYS[4], me, 'PX', ARGV[5])
return 0
