-- store/queue_schedule.c pacer_queue_schedule_claim: runs one tick of a
-- schedule exactly once, however many workers try (docs/CHAINS.md
-- "Schedules").
-- KEYS: schedules tick jobs:high jobs jobs:low
--   schedules: <prefix>schedules hash, name -> definition JSON
--   tick:      <prefix>schedule:<name>, the last tick claimed (unix ms)
-- ARGV: name definition tick_unix_ms n prio1 job1 ... prioN jobN
-- Returns 1 (claimed, jobs queued), 0 (the tick or a later one was
-- claimed already), -1 (the definition changed or was removed since the
-- caller read it: nothing queued).
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last >= tonumber(ARGV[3]) then return 0 end
for i = 3, 5 do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. t ..
                             ', not a stream')
  end
end
redis.call('SET', KEYS[2], ARGV[3])
local n = tonumber(ARGV[4])
for i = 0, n - 1 do
  local prio = tonumber(ARGV[5 + 2 * i])
  redis.call('XADD', KEYS[3 + prio], '*', 'job', ARGV[6 + 2 * i])
end
return 1
