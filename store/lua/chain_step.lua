-- store/queue_chain.c pacer_queue_chain_step: the durable step between two
-- jobs of a chain (docs/CHAINS.md): after request <page> of a chain, queue
-- the next job (now, or in the delayed set), or write the chain's last
-- result, exactly once.
-- KEYS: stream chain target done dead result donemarks
--   stream: the stream the finishing entry came from (fencing)
--   chain:  <prefix>chain:<root id>:<chain> hash (store/keys.h)
--   target: the next job's intake stream, <prefix>delayed, or
--           <prefix>results for the end
--   done:   <prefix>done:<root id> of older versions (unused now)
--   dead:   <prefix>dead, for the dead letter of a report chain
--   result: <prefix>result:<root id>, the result index (`pacer result`)
--   donemarks: <prefix>donemarks:, the done-marker buckets; the root id's
--           marker is set when the last result is ok (below)
-- ARGV: group entry_id consumer page items ttl_ms ack count_name mode
--       mode "next":  job_json
--       mode "delay": due_unix_ms member   (store/delayed.h format)
--       mode "end":   results_maxlen done_ttl_ms state nfields fields...
--                     dead_maxlen ndead dead_fields... result_ttl_ms
--                     root_id
-- Fenced like queue_finish.lua: the entry must still be pending and ours
-- (0 when not pending, -1 when another consumer owns it). The hash field
-- p<page> makes the step happen once per request however often it is run
-- (a worker killed after this script but before queue_finish.lua runs the
-- page again; the step then returns 2 and writes nothing). With ack "1"
-- (report chains, whose polls leave no result of their own) the entry is
-- acknowledged and deleted here too.
-- Done-markers: now_ms, done_buckets, mark_done, marks_flush
-- (lib_done.lua).
--! include lib_done.lua
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
if p[1][2] ~= ARGV[3] then return -1 end
local mode = ARGV[9]
for i = 2, 3 do
  local t = redis.call('TYPE', KEYS[i]).ok
  local want = 'stream'
  if i == 2 then want = 'hash' elseif mode == 'delay' then want = 'zset' end
  if t ~= want and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. t ..
                             ', not a ' .. want)
  end
end
local function ack()
  if ARGV[7] == '1' then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
    redis.call('XDEL', KEYS[1], ARGV[2])
  end
end
if redis.call('HSETNX', KEYS[2], 'p' .. ARGV[4], ARGV[2]) == 0 then
  ack()
  return 2
end
redis.call('HINCRBY', KEYS[2], 'pages', 1)
local counted = tonumber(ARGV[5]) >= 0
if counted then redis.call('HINCRBY', KEYS[2], 'items', ARGV[5]) end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if mode == 'next' then
  redis.call('XADD', KEYS[3], '*', 'job', ARGV[10])
elseif mode == 'delay' then
  redis.call('ZADD', KEYS[3], ARGV[10], ARGV[11])
else
  local a = {'XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], '*'}
  local nf = tonumber(ARGV[13])
  for i = 14, 13 + nf do a[#a + 1] = ARGV[i] end
  a[#a + 1] = ARGV[8]
  a[#a + 1] = redis.call('HGET', KEYS[2], 'pages')
  if counted then
    a[#a + 1] = 'items'
    a[#a + 1] = redis.call('HGET', KEYS[2], 'items') or '0'
  end
  local rid = redis.call(unpack(a))
  local d = 14 + nf
  local ndead = tonumber(ARGV[d + 1])
  if ndead > 0 then
    local t = redis.call('TYPE', KEYS[5]).ok
    if t ~= 'stream' and t ~= 'none' then
      return redis.error_reply('WRONGTYPE ' .. KEYS[5] .. ' is a ' .. t ..
                               ', not a stream')
    end
    local x = {'XADD', KEYS[5], 'MAXLEN', '~', ARGV[d], '*'}
    for i = d + 2, d + 1 + ndead do x[#x + 1] = ARGV[i] end
    redis.call(unpack(x))
  end
  local rttl = tonumber(ARGV[d + 2 + ndead])
  if rttl > 0 then redis.call('SET', KEYS[6], rid, 'PX', rttl) end
  if ARGV[12] == 'ok' and tonumber(ARGV[11]) > 0 then
    local b = done_buckets(KEYS[7], tonumber(ARGV[11]), now_ms())
    mark_done(b, ARGV[d + 3 + ndead])
    marks_flush(b)
  end
end
ack()
return 1
