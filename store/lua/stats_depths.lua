-- store/stats_view.c pacer_stats_view_depths: the metrics snapshot's
-- queue depths and newest dead letters.
-- KEYS: jobs:high jobs jobs:low delayed results dead oppause
-- ARGV: group park_score ndead
-- Returns {sec, usec, xlen high, normal, low, pending, zcard delayed,
--          parked, xlen results, xlen dead, {{sid, id, reason, error,
--          status, attempts, failed_unix_ms}, ...}, all_until}; -1 for a
-- key of the wrong type; all_until is the end of the operator pause of
-- every bucket (store/lua/limit_oppause_all.lua), unix us as text, ''
-- when none is on. Reads only; a dead letter's job and excerpt never
-- leave Redis.
local t = redis.call('TIME')
local function n(...)
  local ok, v = pcall(redis.call, ...)
  if ok and type(v) == 'number' then return v end
  return -1
end
local out = {t[1], t[2]}
for i = 1, 3 do out[#out + 1] = n('XLEN', KEYS[i]) end
local pend = 0
for i = 1, 3 do
  local ok, p = pcall(redis.call, 'XPENDING', KEYS[i], ARGV[1])
  if ok and type(p) == 'table' and type(p[1]) == 'number' then
    pend = pend + p[1]
  end
end
out[#out + 1] = pend
out[#out + 1] = n('ZCARD', KEYS[4])
out[#out + 1] = n('ZCOUNT', KEYS[4], ARGV[2], '+inf')
out[#out + 1] = n('XLEN', KEYS[5])
out[#out + 1] = n('XLEN', KEYS[6])
local dead = {}
local ok, d = pcall(redis.call, 'XREVRANGE', KEYS[6], '+', '-',
                    'COUNT', ARGV[3])
if ok and type(d) == 'table' then
  local want = {id = 2, reason = 3, error = 4, status = 5,
                attempts = 6, failed_unix_ms = 7}
  for _, e in ipairs(d) do
    local r = {e[1], '', '', '', '0', '0', '0'}
    local f = e[2]
    for i = 1, #f, 2 do
      local j = want[f[i]]
      if j then r[j] = string.sub(f[i + 1], 1, 250) end
    end
    dead[#dead + 1] = r
  end
end
out[#out + 1] = dead
local all = ''
local okp, v = pcall(redis.call, 'GET', KEYS[7])
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if okp and v and (tonumber(v) or 0) > now then all = v end
out[#out + 1] = all
return out
