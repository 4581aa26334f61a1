-- store/control.c pacer_control_pause_all / _resume_all / _paused_all: the
-- operator pause of every limit bucket (`pacer pause --all`, `pacer
-- resume --all`), also of buckets that have no state yet.
-- KEYS: <prefix>oppause (string, store/keys.h)
-- ARGV: 'pause' for_ms forever_us  |  'resume'  |  'read'
-- pause: the key = Redis now + for_ms, unix us, expiring then (for_ms 0:
-- forever_us, kept until a resume); a later pause replaces an earlier
-- one. limit_take.lua then grants no slot from any bucket to any process
-- until then. Returns {until, now} (unix us).
-- resume: deletes the key; returns 1 when the pause was on, else 0.
-- read: returns {until, now}, until 0 when no pause is on.
-- A key of another type (not written by pacer) stops every take
-- (limit_take.lua names it): pause replaces it, resume deletes it (and
-- returns 1), read answers an error that names it.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local raw = redis.pcall('GET', KEYS[1])
local bad = type(raw) == 'table' and raw.err
if bad and ARGV[1] == 'read' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' ..
                           redis.call('TYPE', KEYS[1]).ok ..
                           ', not a string; pacer resume --all deletes it')
end
local v = 0
if not bad then v = tonumber(raw or '0') or 0 end
if ARGV[1] == 'resume' then
  redis.call('DEL', KEYS[1])
  if bad or v > now then return 1 end
  return 0
elseif ARGV[1] == 'read' then
  if v <= now then v = 0 end
  return {v, now}
end
local for_ms = tonumber(ARGV[2])
if for_ms > 0 then
  v = now + for_ms * 1000
  redis.call('SET', KEYS[1], string.format('%.0f', v), 'PX', for_ms)
else
  v = tonumber(ARGV[3])
  redis.call('SET', KEYS[1], ARGV[3])
end
return {v, now}
