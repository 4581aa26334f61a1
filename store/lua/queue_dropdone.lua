-- store/queue.c pacer_queue_drop_if_done: intake's duplicate check.
-- KEYS: stream done donemarks  ARGV: group id done_ttl_ms job_id consumer
--   (done: <prefix>done:<id> of older versions; donemarks: the bucket
--   prefix <prefix>donemarks:)
-- When the job id's done-marker exists (below), the entry (still ours) is acked
-- and deleted unsent (returns 1); 0 or -1 otherwise (run it).
-- Every write script first checks that the entry is still pending (so a
-- replay after a lost reply writes nothing twice), then checks the types of
-- the keys it writes, then writes, and acknowledges last: Redis does not
-- roll a script back on error, so an error before the XACK leaves the entry
-- pending and the write is retried; nothing is acked without its record.
-- The pending check: the entry must still be pending (0 otherwise: a
-- replay, or another consumer finished it) and owned by this consumer, the
-- last argument (-1 otherwise: our lease was lost and another consumer took
-- the entry over, so this write is fenced off; tests/integration e2e_fence).
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
if not is_done(KEYS[2], KEYS[3], ARGV[4], tonumber(ARGV[3]), now_ms()) then
  return 0
end
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
if p[1][2] ~= ARGV[#ARGV] then return -1 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
