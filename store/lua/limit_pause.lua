-- KEYS: bucket  ARGV: pause_ms reason tolerance_us aimd_window_us
--   (aimd_window_us: pacer_gcra_aimd_window_us, 0 when not adaptive)
--   then, optionally, now_us (unix us; absent, empty or 0: Redis TIME)
-- core/gcra.c (pacer_gcra_pause) is the reference model of this script;
-- test gcra_diff runs both on a virtual clock (now_us) and compares them.
local STATE_TTL_MS = 3600000 -- idle bucket state kept, ms
local now = tonumber(ARGV[5] or '0') or 0
if now <= 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local untl = now + tonumber(ARGV[1]) * 1000
local h = redis.call('HMGET', KEYS[1], 'pause_until', 'tat', 'permille',
                     'aimd_at', 'quick')
local ended = tonumber(h[1] or '0')
-- AIMD: an isolated 429 (send jitter at an exact limit) only pauses, and
-- so does one that arrives while the pause stands (sent before it). One
-- that comes soon after the previous pause ended is quick; from the
-- second quick one in a row (QUICK) the 429s keep coming and the rate is
-- too high: halve it.
local QUICK = 2
local window = tonumber(ARGV[4]) or 0
local stored = tonumber(h[5] or '0')
local quick = stored
local is_quick = window > 0 and ended > 0 and now >= ended and
  now - ended < window
if is_quick then
  quick = math.min(quick + 1, QUICK)
elseif window > 0 and now >= ended then
  quick = 0 -- not during a pause: that one was sent before it
end
if quick ~= stored then redis.call('HSET', KEYS[1], 'quick', quick) end
if is_quick and quick >= QUICK then
  local at = tonumber(h[4] or '0')
  if now - at >= 1000000 then
    local pm = 1000
    if h[3] then
      pm = tonumber(h[3]) + math.floor((now - at) / 1000000 * 50)
      if pm > 1000 then pm = 1000 end
    end
    pm = math.max(50, math.floor(pm / 2))
    redis.call('HSET', KEYS[1], 'permille', pm, 'aimd_at',
               string.format('%.0f', now))
  end
end
redis.call('HSET', KEYS[1], 'last_429', string.format('%.0f', now))
if untl > ended then
  redis.call('HSET', KEYS[1], 'pause_until',
             string.format('%.0f', untl), 'pause_reason', ARGV[2])
end
-- resume at the bucket's pace, without a burst (e2e_limits)
local want = untl + tonumber(ARGV[3])
if tonumber(h[2] or '0') < want then
  redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', want))
end
-- an operator pause (limit_oppause.lua) keeps the state as long as it lasts
if tonumber(redis.call('HGET', KEYS[1], 'op_until') or '0') <= now then
  redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[1]), 0) + STATE_TTL_MS)
end
return 1
