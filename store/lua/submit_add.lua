-- store/submit.c: queues one job unless its id already finished.
-- KEYS: stream done donemarks  ARGV: done_ttl_ms job_id field value ...
--   (done: <prefix>done:<id> of older versions; donemarks: the bucket
--   prefix <prefix>donemarks:)
-- XADD unless the job id already finished ok within done_ttl_ms (its
-- done-marker exists, below): then nil, and nothing is queued.
-- Done-markers: now_ms, done_buckets, is_done (lib_done.lua).
--! include lib_done.lua
if is_done(KEYS[2], done_buckets(KEYS[3], tonumber(ARGV[1]), now_ms()),
           ARGV[2]) then
  return false
end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
