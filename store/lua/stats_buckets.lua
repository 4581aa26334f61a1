-- store/stats_view.c pacer_stats_view_buckets: pause and AIMD state of
-- limit buckets.
-- KEYS: limit buckets, then <prefix>oppause (the operator pause of every
--       bucket, store/lua/limit_oppause_all.lua; it need not exist)
-- Returns {sec, usec, {pause_until, pause_reason, permille, aimd_at}, ...}
-- with '' for a missing field (store/limiter.h draws the hash); an
-- operator pause (the bucket's op_until or the pause of all) that ends
-- later is reported in their place, as limit_take.lua honours it.
local t = redis.call('TIME')
local out = {t[1], t[2]}
local n = #KEYS - 1
local ok, all = pcall(redis.call, 'GET', KEYS[n + 1])
if not ok or not all then all = '0' end
for i = 1, n do
  local ok, h = pcall(redis.call, 'HMGET', KEYS[i], 'pause_until',
                      'pause_reason', 'permille', 'aimd_at', 'op_until')
  if not ok then h = {} end
  local op = h[5]
  if (tonumber(all) or 0) > tonumber(op or '0') then op = all end
  if tonumber(op or '0') > tonumber(h[1] or '0') then
    h[1], h[2] = op, 'paused by an operator'
  end
  out[#out + 1] = {h[1] or '', h[2] or '', h[3] or '', h[4] or ''}
end
return out
