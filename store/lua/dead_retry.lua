-- store/dead.c pacer_dead_retry: queues a dead job's original entry again.
-- KEYS: deadjob dead result jobs:high jobs jobs:low
--       (<prefix>deadjob:<id>, <prefix>dead, <prefix>result:<id>, the
--       three intake streams)
-- The original (job text with its secrets, and the entry's id field, kept
-- by queue_finish.lua for dead_ttl_ms) goes back to the stream it came
-- from as a fresh entry (no attempt field: max_attempts applies afresh),
-- and its dead letter, the kept original and the id's result index are
-- deleted in the same step, so a job is retried once however many
-- operators ask. Returns the new entry id, or false when no original is
-- kept (never kept, expired, deleted, or already retried).
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
local f = {}
for i = 1, #h - 1, 2 do f[h[i]] = h[i + 1] end
if not f.job then
  redis.call('DEL', KEYS[1])
  return false
end
local stream = KEYS[5]
if f.stream == KEYS[4] then stream = KEYS[4] end
if f.stream == KEYS[6] then stream = KEYS[6] end
local a = {'XADD', stream, '*', 'job', f.job}
if f.id then
  a[#a + 1] = 'id'
  a[#a + 1] = f.id
end
local nid = redis.call(unpack(a))
if f.dead then redis.call('XDEL', KEYS[2], f.dead) end
redis.call('DEL', KEYS[1], KEYS[3])
return nid
