-- store/submit.c: queues one job unless its id already finished.
-- KEYS: stream done donemarks  ARGV: done_ttl_ms job_id field value ...
--   (done: <prefix>done:<id> of older versions; donemarks: the bucket
--   prefix <prefix>donemarks:)
-- XADD unless the job id already finished ok within done_ttl_ms (its
-- done-marker exists, below): then nil, and nothing is queued.
-- Done-markers: now_ms, is_done, mark_done (lib_done.lua).
--! include lib_done.lua
if is_done(KEYS[2], KEYS[3], ARGV[2], tonumber(ARGV[1]), now_ms()) then
  return false
end
local a = {'XADD', KEYS[1], '*'}
for i = 3, #ARGV do a[#a + 1] = ARGV[i] end
return redis.call(unpack(a))
