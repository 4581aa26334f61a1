-- store/queue_finish.c pacer_queue_finish: writes the results of n jobs
-- and acks them, one call per batch (at most 64 entries; the finishes
-- queued in one loop turn, docs/REDIS.md "Finish: one call per loop turn").
-- KEYS: results dead cancel donemarks jobs:high jobs jobs:low, then per
--   entry i (1..n): done_i result_i deadjob_i claim_i at KEYS[4 + 4i] ..
--   KEYS[7 + 4i] (done: <prefix>done:<id> of older versions; result,
--   deadjob, claim: <prefix>result:<id>, <prefix>deadjob:<id>,
--   <prefix>claim:<id>; cancel: <prefix>cancel; donemarks: the bucket
--   prefix <prefix>donemarks:)
-- ARGV: group results_maxlen dead_maxlen done_ttl_ms result_ttl_ms
--   dead_ttl_ms consumer, then per entry, one after the other: stream (1,
--   2 or 3: its stream's index among KEYS[5..7]) entry_id ack_required
--   job_id mark nres res... ndead dead... (mark "1": the result is ok, set
--   the job id's marker)
-- Returns one code per entry, in order: 1 written, 2 folded by the
-- done-marker, 0 not pending, -1 fenced off (below), or an error reply in
-- the entry's own place.
-- Each entry is finished exactly as the one-entry script did, in order,
-- each seeing the writes of those before it, and under pcall: an entry's
-- error (a key of another type) is its own and the others stand, because
-- Redis does not roll back the entries already written and acked. The
-- caller sends an entry that errs again (alone or in a later batch); the
-- pending check makes a replay of an entry already acked a no-op (0), so
-- sending a whole batch again after a lost reply writes nothing twice.
-- What ends each entry (its claim's deletion, its marker, XACK, XDEL) is
-- gathered and sent once per call after the last entry, one command each
-- (DEL, HSET, XACK and XDEL per stream): every entry's records are written
-- before any ack, and an entry finished earlier in the call answers 0 as
-- if acked.
-- Per entry: the result index (result_i, PX result_ttl_ms > 0) names the
-- result entry of the job id for `pacer result`. With a dead letter and
-- dead_ttl_ms > 0, deadjob_i keeps the entry's original job text (secrets
-- intact, never shown) and its stream for `pacer dead retry`
-- (store/dead.c); one dead letter per job id: an older one of the same id
-- is deleted, and an ok result deletes both (docs/REDIS.md "Dead
-- letters"). A result answers a cancel request of its id (cancel,
-- store/cancel.h): it is removed. The entry's claim is deleted when this
-- entry holds it (store/lua/queue_dropdone.lua).
-- With ack_required "1": fenced by the pending check, then, unless the
-- entry still holds its job id's claim (below), the done-marker of the job
-- id (set only for ok results when done_ttl_ms > 0): when another entry
-- with the same job id already finished ok within done_ttl_ms, this one
-- is acked and deleted without a second result (returns 2). Otherwise
-- writes the result (and dead letter), sets the marker, acks and deletes
-- (returns 1).
-- Every write script first checks that the entry is still pending (so a
-- replay after a lost reply writes nothing twice), then checks the types of
-- the keys it writes, then writes, and acknowledges last: Redis does not
-- roll a script back on error, so an error before the XACK leaves the entry
-- pending and the write is retried; nothing is acked without its record.
-- The pending check: the entry must still be pending (0 otherwise: a
-- replay, or another consumer finished it) and owned by this consumer
-- (-1 otherwise: our lease was lost and another consumer took the entry
-- over, so this write is fenced off; tests/integration e2e_fence).
-- Done-markers: now_ms, done_buckets, is_done, mark_done (lib_done.lua).
--! include lib_done.lua
--! include lib_batch.lua
local group, rmax, dmax = ARGV[1], ARGV[2], ARGV[3]
local ttl, rttl, dttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local consumer = ARGV[7]
-- Asked once per call, as nothing else runs while it does: Redis' clock
-- and the marker buckets at that now (marks, done_buckets), each stream's
-- type (below), and whether any cancel request exists (only this script's
-- ZREMs change the set).
local marks, cancels = nil, nil
-- What the entries leave to the end of the call, one command each: the
-- claims to delete, per stream the entries to ack and to delete, and the
-- markers (marks_flush); finished: "<entry id> <stream>" of each entry
-- acked so far, which a second finish of it in this call finds no longer
-- pending, as it would after a per-entry XACK.
local claims, acks, dels, finished = {}, {}, {}, {}
local function later(t, stream, eid)
  if not t[stream] then t[stream] = {} end
  t[stream][#t[stream] + 1] = eid
end

-- Fails unless key is of type want (stream, hash) or does not exist. Once
-- it is, only this script writes it until the call ends.
local typed = {}
local function want_type(key, want)
  if typed[key] then return nil end
  local t = redis.call('TYPE', key).ok
  if t ~= want and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. t ..
                             ', not a ' .. want)
  end
  typed[key] = true
end

-- The finish of one entry: stream key, entry id, ack "1"/"0", job id,
-- mark "1"/"0", its keys (done, result, deadjob, claim), and ARGV[r0 ..
-- r0 + nres - 1] its result, ARGV[d0 .. d0 + ndead - 1] its dead letter.
local function finish(stream, eid, ack, jid, markreq, done, rkey, dkey,
                      claim, r0, nres, d0, ndead)
  -- the entry as its claim names it, and its key in finished
  local me = eid .. ' ' .. stream
  if ack == '1' then
    if finished[me] then return 0 end
    local p = redis.call('XPENDING', stream, group, eid, eid, 1)
    if #p == 0 then return 0 end
    if p[1][2] ~= consumer then return -1 end
  end
  local held = redis.pcall('GET', claim) == me
  local e = want_type(KEYS[1], 'stream')
  if e then return e end
  if ack ~= '1' then
    -- not asked by XPENDING: its XDEL at the end must not fail
    e = want_type(stream, 'stream')
    if e then return e end
  end
  local mark = ack == '1' and ttl > 0 and markreq == '1'
  if ack == '1' and marks == nil then
    marks = done_buckets(KEYS[4], ttl, now_ms())
  end
  if mark then
    e = want_type(marks.today, 'hash')
    if e then return e end
  end
  -- An entry that still held its job id's claim is the only entry of that
  -- id to have run since its own intake check found no marker: every
  -- other one checked in the meantime was folded into it (its claim named
  -- an entry still pending, queue_dropdone.lua), so the marker is asked
  -- only when the claim was lost (expired, evicted, taken over as stale).
  if ack == '1' and not held and is_done(done, marks, jid) then
    finished[me] = true
    later(acks, stream, eid)
    later(dels, stream, eid)
    return 2
  end
  -- The kept original (deadjob) is only ever written below, always with
  -- its "dead" field: without one there is nothing to delete. The dead
  -- stream is written only with a dead letter or an older one to delete,
  -- so its type is checked only then (one command less per ok result).
  local olddead = redis.call('HGET', dkey, 'dead')
  if ndead > 0 or olddead then
    e = want_type(KEYS[2], 'stream')
    if e then return e end
  end
  local rid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', rmax, '*',
                         unpack(ARGV, r0, r0 + nres - 1))
  if rttl > 0 then redis.call('SET', rkey, rid, 'PX', ARGV[5]) end
  if cancels == nil then cancels = redis.call('EXISTS', KEYS[3]) == 1 end
  if cancels then
    for i = r0, r0 + nres - 2, 2 do
      if ARGV[i] == 'id' then redis.call('ZREM', KEYS[3], ARGV[i + 1]) end
    end
  end
  if olddead then
    redis.call('XDEL', KEYS[2], olddead)
    redis.call('DEL', dkey)
  end
  if ndead > 0 then
    local did = redis.call('XADD', KEYS[2], 'MAXLEN', '~', dmax, '*',
                           unpack(ARGV, d0, d0 + ndead - 1))
    local x = dttl > 0 and redis.call('XRANGE', stream, eid, eid) or {}
    if #x > 0 then
      local f, h = x[1][2], {'HSET', dkey, 'stream', stream, 'dead', did}
      for i = 1, #f - 1, 2 do
        if f[i] == 'job' or f[i] == 'id' then
          h[#h + 1] = f[i]
          h[#h + 1] = f[i + 1]
        end
      end
      redis.call(unpack(h))
      redis.call('PEXPIRE', dkey, dttl)
    end
  end
  if mark then mark_done(marks, jid) end
  -- released with the result only: an entry that fails here keeps it
  if held then claims[#claims + 1] = claim end
  if ack == '1' then
    finished[me] = true
    later(acks, stream, eid)
  end
  later(dels, stream, eid)
  return 1
end

local n, out, c = (#KEYS - 7) / 4, {}, 8
for i = 1, n do
  local s, nres = tonumber(ARGV[c]), tonumber(ARGV[c + 5])
  local ndead = nres and tonumber(ARGV[c + 6 + nres])
  if (s ~= 1 and s ~= 2 and s ~= 3) or not ndead or nres < 0 or
     ndead < 0 or c + 6 + nres + ndead > #ARGV then
    -- Where the next entry starts is unknown: this one and the rest get
    -- the error and none of them is run (those before it are, below).
    for j = i, n do
      out[j] = redis.error_reply('ERR finish: entry ' .. i .. ' of ' .. n ..
                                 ': malformed arguments')
    end
    break
  end
  local k = 4 + 4 * i
  local ok, r = pcall(finish, KEYS[4 + s], ARGV[c + 1], ARGV[c + 2],
                      ARGV[c + 3], ARGV[c + 4], KEYS[k], KEYS[k + 1],
                      KEYS[k + 2], KEYS[k + 3], c + 6, nres, c + 7 + nres,
                      ndead)
  out[i] = entry_reply(ok, r)
  c = c + 7 + nres + ndead
end
-- Last, what the entries left to the end. None of these can fail: DEL
-- takes any type, the bucket's type was checked before the first write
-- that marks, and each intake stream was asked by XPENDING or its type
-- checked. So every entry written above is acked with its record.
if #claims > 0 then redis.call('DEL', unpack(claims)) end
if marks then marks_flush(marks) end
for stream, ids in pairs(acks) do
  redis.call('XACK', stream, group, unpack(ids))
end
for stream, ids in pairs(dels) do redis.call('XDEL', stream, unpack(ids)) end
return out
