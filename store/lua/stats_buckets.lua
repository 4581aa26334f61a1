-- store/stats_view.c pacer_stats_view_buckets: pause and AIMD state of
-- limit buckets.
-- KEYS: limit buckets
-- Returns {sec, usec, {pause_until, pause_reason, permille, aimd_at}, ...}
-- with '' for a missing field (store/limiter.h draws the hash); an
-- operator pause (op_until) that ends later is reported in their place.
local t = redis.call('TIME')
local out = {t[1], t[2]}
for i = 1, #KEYS do
  local ok, h = pcall(redis.call, 'HMGET', KEYS[i], 'pause_until',
                      'pause_reason', 'permille', 'aimd_at', 'op_until')
  if not ok then h = {} end
  if tonumber(h[5] or '0') > tonumber(h[1] or '0') then
    h[1], h[2] = h[5], 'paused by an operator'
  end
  out[#out + 1] = {h[1] or '', h[2] or '', h[3] or '', h[4] or ''}
end
return out
