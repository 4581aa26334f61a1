-- store/queue_drop.c pacer_queue_drop_if_done: intake's duplicate check and
-- the job id's claim (docs/REDIS.md "One job id at a time"), for the n
-- entries of one intake round in one call (at most 64, queue_drop.c).
-- KEYS: jobs:high jobs jobs:low delayed donemarks, then per entry i
--   (1..n): done_i claim_i at KEYS[4 + 2i], KEYS[5 + 2i]
--   (donemarks: the bucket prefix <prefix>donemarks:; done_i:
--   <prefix>done:<id> of older versions; claim_i: <prefix>claim:<id>)
-- ARGV: group done_ttl_ms claim_ttl_ms consumer, then per entry i: entry
--   id, stream (1, 2 or 3: its stream's index in KEYS), job id at
--   ARGV[2 + 3i], ARGV[3 + 3i], ARGV[4 + 3i]
-- Returns one code per entry, in order, as the one-entry script did:
-- When the job id's done-marker exists (below), the entry (still ours) is
-- acked and deleted unsent (1). Otherwise the claim ("<entry id>
-- <stream key>") names the one entry of this job id that may run: when
-- another entry holds it and that entry is still pending in the group
-- (queued or running anywhere), or names a member still in the delayed
-- set ("z <due> <sha1 of member>", queue_defer.lua: a retry or a
-- throttled job waiting there), this entry is folded into it: acked and
-- deleted unsent, no request and no result of its own (3). A claim whose
-- entry is no longer pending nor delayed (acked without its claim
-- cleared, promoted, or a claim left by a crash) is stale and is taken
-- over; the same entry delivered again (XAUTOCLAIM) keeps its claim. 0
-- means run it; 2 and -1 (below) leave it alone. An entry whose check fails (a key of the wrong type)
-- gets an error reply in its place; the others are checked as if alone.
-- Entries are checked in order, each seeing the writes of those before
-- it, so a second copy of a job id in the same call is folded into the
-- first, exactly as when each entry had its own call.
-- Every write script first checks that the entry is still pending (so a
-- replay after a lost reply writes nothing twice), then checks the types of
-- the keys it writes, then writes, and acknowledges last: Redis does not
-- roll a script back on error, so an error before the XACK leaves the entry
-- pending and the write is retried; nothing is acked without its record.
-- The pending check: the entry must still be pending (2 otherwise: a
-- replay of a call whose reply was lost, or another consumer finished it) and owned by this consumer
-- (-1 otherwise: our lease was lost and another consumer took the entry
-- over, so this write is fenced off; tests/integration e2e_fence).
-- Done-markers: now_ms, done_buckets, is_done (lib_done.lua).
--! include lib_done.lua
--! include lib_batch.lua
local group, ttl, claim_ttl, consumer =
  ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
-- The marker buckets, named once for the whole call (lib_done.lua).
local marks = done_buckets(KEYS[5], ttl, now_ms())

-- Acks and deletes entry eid of stream unsent.
local function drop(stream, eid)
  redis.call('XACK', stream, group, eid)
  redis.call('XDEL', stream, eid)
end

-- The check of one entry: returns its code, or an error reply.
local function check(stream, done, claim, eid, job_id)
  local p = redis.call('XPENDING', stream, group, eid, eid, 1)
  if #p == 0 then return 2 end
  if p[1][2] ~= consumer then return -1 end
  if is_done(done, marks, job_id) then
    drop(stream, eid)
    return 1
  end
  -- GET fails on a key of another type: only then is TYPE asked, for the
  -- message (one command less per job).
  local cur = redis.pcall('GET', claim)
  if type(cur) == 'table' and cur.err then
    return redis.error_reply('WRONGTYPE ' .. claim .. ' is a ' ..
                             redis.call('TYPE', claim).ok .. ', not a string')
  end
  local me = eid .. ' ' .. stream
  if cur and string.sub(cur, 1, 2) == 'z ' then
    -- At most 64 members share one due time before the claim counts as
    -- stale (parked jobs share one score): a bounded check, never a scan.
    local sp = string.find(cur, ' ', 3, true)
    local due = sp and string.sub(cur, 3, sp - 1)
    local sum = sp and string.sub(cur, sp + 1)
    if due and tonumber(due) then
      local ms = redis.pcall('ZRANGEBYSCORE', KEYS[4], due, due, 'LIMIT', 0,
                             64)
      if type(ms) == 'table' and not ms.err then
        for _, m in ipairs(ms) do
          if redis.sha1hex(m) == sum then
            drop(stream, eid)
            return 3
          end
        end
      end
    end
  elseif cur and cur ~= me then
    local sp = string.find(cur, ' ', 1, true)
    local oid = sp and string.sub(cur, 1, sp - 1)
    local okey = sp and string.sub(cur, sp + 1)
    if okey == KEYS[1] or okey == KEYS[2] or okey == KEYS[3] then
      local o = redis.pcall('XPENDING', okey, group, oid, oid, 1)
      if type(o) == 'table' and not o.err and #o > 0 then
        drop(stream, eid)
        return 3
      end
    end
  end
  redis.call('SET', claim, me, 'PX', claim_ttl)
  return 0
end

local out = {}
for i = 1, (#ARGV - 4) / 3 do
  local a = 2 + 3 * i
  local s = tonumber(ARGV[a + 1])
  if s ~= 1 and s ~= 2 and s ~= 3 then
    out[i] = redis.error_reply('ERR entry ' .. i .. ': stream index ' ..
                               tostring(ARGV[a + 1]) .. ' is not 1, 2 or 3')
  else
    -- One entry's error (a NOGROUP, a key of another type) stays its own:
    -- the entries before it are already acked, so failing the whole call
    -- would make the caller run jobs that were dropped.
    local ok, r = pcall(check, KEYS[s], KEYS[4 + 2 * i], KEYS[5 + 2 * i],
                        ARGV[a], ARGV[a + 2])
    out[i] = entry_reply(ok, r)
  end
end
return out
