-- store/queue_chain.c pacer_queue_chain_step: the durable step between two
-- jobs of a chain (docs/CHAINS.md): after page <page> of a chain, queue
-- the next page's job, or write the chain's summary result, exactly once.
-- KEYS: stream chain target done
--   stream: the stream the finishing entry came from (fencing)
--   chain:  <prefix>chain:<root id>:<chain> hash (store/keys.h)
--   target: the next job's intake stream, or <prefix>results for the end
--   done:   <prefix>done:<root id>, set when the summary is ok
-- ARGV: group entry_id consumer page items ttl_ms mode
--       mode "next": job_json
--       mode "end":  results_maxlen done_ttl_ms state nfields fields...
-- Fenced like queue_finish.lua: the entry must still be pending and ours
-- (0 when not pending, -1 when another consumer owns it). The hash field
-- p<page> makes the step happen once per page however often the page is
-- run (a worker killed after this script but before queue_finish.lua runs
-- the page again; the step then returns 2 and writes nothing).
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
if p[1][2] ~= ARGV[3] then return -1 end
for i = 2, 3 do
  local t = redis.call('TYPE', KEYS[i]).ok
  local want = i == 2 and 'hash' or 'stream'
  if t ~= want and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. t ..
                             ', not a ' .. want)
  end
end
if redis.call('HSETNX', KEYS[2], 'p' .. ARGV[4], ARGV[2]) == 0 then
  return 2
end
redis.call('HINCRBY', KEYS[2], 'pages', 1)
local counted = tonumber(ARGV[5]) >= 0
if counted then redis.call('HINCRBY', KEYS[2], 'items', ARGV[5]) end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if ARGV[7] == 'next' then
  redis.call('XADD', KEYS[3], '*', 'job', ARGV[8])
  return 1
end
local a = {'XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*'}
local nf = tonumber(ARGV[11])
for i = 12, 11 + nf do a[#a + 1] = ARGV[i] end
a[#a + 1] = 'pages'
a[#a + 1] = redis.call('HGET', KEYS[2], 'pages')
if counted then
  a[#a + 1] = 'items'
  a[#a + 1] = redis.call('HGET', KEYS[2], 'items') or '0'
end
redis.call(unpack(a))
if ARGV[10] == 'ok' and tonumber(ARGV[9]) > 0 then
  redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[9])
end
return 1
