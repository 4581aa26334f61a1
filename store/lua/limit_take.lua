-- KEYS: bucket keys, then <prefix>oppause (the operator pause of every
--       bucket, store/lua/limit_oppause_all.lua; it need not exist)
-- ARGV: nslots horizon_us then per bucket: interval_us (steady) tolerance_us
--       cost adaptive interval_us (warm-up) period_us
--       then, optionally, now_us (unix us; absent, empty or 0: Redis TIME)
--       lead_us (no slot before now + lead_us; absent: 0), guard_us and
--       taker (absent: 0 and ''). With guard_us > 0 a take reserves a block:
--       its first slot keeps guard_us more distance from the last slot
--       another taker reserved (two processes' blocks do not touch), and the
--       later slots may reach horizon_us past the first one.
-- A bucket idle for a whole period starts a warm-up period ("since").
-- A slot a slower bucket puts a whole interval past the earliest one a
-- faster bucket could give is not taken until it is lead_us away (a TAT
-- keeps no hole: stacked lanes sharing the faster bucket would take turns).
-- Returns {n, off_1, ..., off_n, now} (slot offsets from now, us, then
-- now itself, unix us: each process maps Redis time to its own clock with
-- it) or {0, wait_us, reason}. Numbers stay below 2^53, so doubles are exact.
-- core/gcra.c (pacer_gcra_take) is the reference model of this script;
-- test gcra_diff runs both on a virtual clock (now_us) and compares them.
-- An operator pause (a bucket's op_until, store/lua/limit_oppause.lua, or
-- the pause of all buckets in the last key; not modelled) answers a wait
-- of at most OP_RECHECK_US, so a resume is seen within it.
local OP_RECHECK_US = 1000000
local STATE_TTL_MS = 3600000 -- idle bucket state kept, ms
local n = #KEYS - 1
local now = tonumber(ARGV[3 + n * 6] or '0') or 0
if now <= 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local lead = tonumber(ARGV[4 + n * 6] or '0') or 0
local guard = tonumber(ARGV[5 + n * 6] or '0') or 0
local taker = ARGV[6 + n * 6] or ''
local nslots = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local tat, iv, one, tol, since, who = {}, {}, {}, {}, {}, {}
local pause, reason = 0, ''
for i = 1, n do
  local b = 2 + (i - 1) * 6
  local h = redis.call('HMGET', KEYS[i], 'tat', 'pause_until',
                       'permille', 'aimd_at', 'pause_reason', 'since',
                       'op_until', 'taker')
  local period = tonumber(ARGV[b + 6])
  tat[i] = tonumber(h[1] or '0')
  since[i] = tonumber(h[6] or '0')
  who[i] = h[8] or ''
  if tat[i] + period < now then since[i] = now end
  local base = ARGV[b + 1]
  if now - since[i] < period then base = ARGV[b + 5] end
  local pm = 1000
  if ARGV[b + 4] == '1' and h[3] then
    -- before aimd_at (a clock that stepped back) nothing is recovered and
    -- nothing lost: a share of 0 or below would make the interval
    -- infinite or negative (a pause covers that time today anyway)
    local dt = math.max(now - tonumber(h[4] or '0'), 0)
    pm = tonumber(h[3]) + math.floor(dt / 1000000 * 50)
    if pm > 1000 then pm = 1000 end
  end
  one[i] = math.ceil(tonumber(base) * 1000 / pm)
  iv[i] = one[i] * tonumber(ARGV[b + 3])
  tol[i] = tonumber(ARGV[b + 2])
  local pu = tonumber(h[2] or '0')
  if pu - now > pause then pause = pu - now; reason = h[5] or '' end
  local op = tonumber(h[7] or '0') - now
  if op > 0 then
    pause = math.max(pause, math.min(op, OP_RECHECK_US))
    reason = 'paused by an operator'
  end
end
-- GET fails on a key of another type: only then is TYPE asked, for the
-- message (`pacer pause --all` or `resume --all` replaces or deletes it).
local raw = redis.pcall('GET', KEYS[n + 1])
if type(raw) == 'table' and raw.err then
  return redis.error_reply('WRONGTYPE ' .. KEYS[n + 1] .. ' is a ' ..
                           redis.call('TYPE', KEYS[n + 1]).ok ..
                           ', not a string; pacer resume --all deletes it')
end
local all = (tonumber(raw or '0') or 0) - now
if all > 0 then
  pause = math.max(pause, math.min(all, OP_RECHECK_US))
  reason = 'paused by an operator'
end
if pause > 0 then return {0, pause, reason} end
local out = {0}
local limit = now + horizon
for j = 1, nslots do
  local s, e, slowest, hole = now + lead, {}, 0, false
  for i = 1, n do
    local c = tat[i] + iv[i] - one[i] - tol[i]
    if j == 1 and guard > 0 and who[i] ~= taker then c = c + guard end
    e[i] = math.max(c, now + lead)
    if c > s then s = c end
  end
  if s > limit then
    if #out == 1 then return {0, s - now, ''} end
    break
  end
  -- no holes: a slot that a slower bucket puts a whole interval past the
  -- earliest one a faster bucket could give is taken only lead away
  -- (core/gcra.c); until then, the wait for that
  for i = 1, n do
    if e[i] == s and iv[i] > slowest then slowest = iv[i] end
  end
  for i = 1, n do
    if iv[i] < slowest and s - e[i] >= iv[i] then hole = true end
  end
  if hole then
    if #out == 1 then return {0, s - now - lead, ''} end
    break
  end
  if j == 1 and guard > 0 then limit = s + horizon end
  for i = 1, n do tat[i] = math.max(tat[i], s) + iv[i] end
  out[#out + 1] = s - now
end
out[1] = #out - 1
out[#out + 1] = now
for i = 1, n do
  redis.call('HSET', KEYS[i], 'tat', string.format('%.0f', tat[i]),
             'since', string.format('%.0f', since[i]))
  if taker ~= '' then redis.call('HSET', KEYS[i], 'taker', taker) end
  redis.call('PEXPIRE', KEYS[i], STATE_TTL_MS)
end
return out
