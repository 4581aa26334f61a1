-- store/stats_view.c pacer_stats_view_buckets: pause and AIMD state of
-- limit buckets.
-- KEYS: limit buckets
-- Returns {sec, usec, {pause_until, pause_reason, permille, aimd_at}, ...}
-- with '' for a missing field (store/limiter.h draws the hash).
local t = redis.call('TIME')
local out = {t[1], t[2]}
for i = 1, #KEYS do
  local ok, h = pcall(redis.call, 'HMGET', KEYS[i], 'pause_until',
                      'pause_reason', 'permille', 'aimd_at')
  if not ok then h = {} end
  out[#out + 1] = {h[1] or '', h[2] or '', h[3] or '', h[4] or ''}
end
return out
