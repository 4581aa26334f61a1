-- Done-markers, included (embed_lua.cmake, "--! include lib_done.lua") by
-- every script that reads or writes them: queue_finish, queue_dropdone,
-- submit_add, chain_step. Not a script of its own.
-- Layout (store/keys.h): hash <prefix>donemarks:<n>, n = unix ms /
-- 86400000 (PACER_KEYS_DONE_BUCKET_MS, 24 h), field job id, value "1"; the
-- hash expires done_ttl_ms after its 24 h end. A job id that finished ok
-- within done_ttl_ms is in one of the buckets from (now - done_ttl_ms) to
-- now. The string <prefix>done:<id> of older versions still counts.
-- Redis' clock, unix ms.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Whether job id finished ok within ttl ms of now: the legacy string key,
-- or its field in one of the buckets back to now - ttl (base: the bucket
-- prefix).
local function is_done(legacy, base, id, ttl, now)
  if redis.call('EXISTS', legacy) == 1 then return true end
  if ttl <= 0 then return false end
  for n = math.floor(now / 86400000), math.floor((now - ttl) / 86400000), -1 do
    if redis.call('HEXISTS', base .. n, id) == 1 then return true end
  end
  return false
end
-- Marks job id done now: its field in today's bucket, which lasts ttl ms
-- past the bucket's end. seen (a table, or nil): the buckets whose
-- PEXPIREAT this call of the script already set to the same end (one
-- script marking several ids at one now sets it once; HSET keeps a TTL).
local function mark_done(base, id, ttl, now, seen)
  local n = math.floor(now / 86400000)
  redis.call('HSET', base .. n, id, '1')
  if seen and seen[n] then return end
  redis.call('PEXPIREAT', base .. n, (n + 1) * 86400000 + ttl)
  if seen then seen[n] = true end
end
