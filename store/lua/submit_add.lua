-- store/submit.c: queues one job unless its id already finished.
-- KEYS: stream done donemarks  ARGV: done_ttl_ms job_id field value ...
--   (done: <prefix>done:<id> of older versions; donemarks: the bucket
--   prefix <prefix>donemarks:)
-- XADD unless the job id already finished ok within done_ttl_ms (its
-- done-marker exists, below): then nil, and nothing is queued.
-- Done-markers (store/keys.h): hash <prefix>donemarks:<n>, n = unix ms /
-- 86400000 (PACER_KEYS_DONE_BUCKET_MS, 24 h), field job id, value "1"; the
-- hash expires done_ttl_ms after its 24 h end. A job id that finished ok
-- within done_ttl_ms is in one of the buckets from (now - done_ttl_ms) to
-- now. The string <prefix>done:<id> of older versions still counts.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function is_done(legacy, base, id, ttl, now)
  if redis.call('EXISTS', legacy) == 1 then return true end
  if ttl <= 0 then return false end
  for n = math.floor(now / 86400000), math.floor((now - ttl) / 86400000), -1 do
    if redis.call('HEXISTS', base .. n, id) == 1 then return true end
  end
  return false
end
if is_done(KEYS[2], KEYS[3], ARGV[2], tonumber(ARGV[1]), now_ms()) then
  return false
end
local a = {'XADD', KEYS[1], '*'}
for i = 3, #ARGV do a[#a + 1] = ARGV[i] end
return redis.call(unpack(a))
