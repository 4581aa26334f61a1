-- store/throttle.c: one key's throttle backoff state, shared by every
-- process (core/backoff.h, docs/LIMITS.md "Throttles").
-- KEYS: <prefix>throttle:<key>  hash {streak, until (unix ms)}
-- ARGV: op ("throttle" | "ok"), streak, until_ms
-- "throttle" merges this process's view into the shared one (the larger
-- streak and the later end win, so a process that saw fewer throttles
-- never shortens another's pause); "ok" takes one step off the streak.
-- Returns {streak, until_ms} as stored.
local STATE_TTL_MS = 3600000 -- state kept after the pause ends, ms
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'streak', 'until')
local streak = tonumber(h[1] or '0') or 0
local untl = tonumber(h[2] or '0') or 0
if ARGV[1] == 'throttle' then
  streak = math.max(streak, tonumber(ARGV[2]) or 0)
  untl = math.max(untl, tonumber(ARGV[3]) or 0)
elseif streak > 0 then
  streak = streak - 1
end
if streak == 0 and untl <= now then
  redis.call('DEL', KEYS[1])
  return {0, untl}
end
redis.call('HSET', KEYS[1], 'streak', streak,
           'until', string.format('%.0f', untl))
redis.call('PEXPIRE', KEYS[1], math.max(untl - now, 0) + STATE_TTL_MS)
return {streak, untl}
