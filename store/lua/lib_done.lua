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
-- The buckets of one script call at one now (base: the bucket prefix, ttl
-- done_ttl_ms): b[1..] the keys a marker set within ttl ms of now can be
-- in, newest first (none when ttl <= 0); b.today the bucket mark_done
-- writes and b.expire_at its PEXPIREAT (the bucket's end + ttl, unix ms).
-- Each is named once per call, not per job: a number put into a key or an
-- argument is formatted every time it is used.
local function done_buckets(base, ttl, now)
  local day = math.floor(now / 86400000)
  local b = {today = base .. string.format('%d', day),
             expire_at = string.format('%d', (day + 1) * 86400000 + ttl)}
  if ttl > 0 then
    for n = day, math.floor((now - ttl) / 86400000), -1 do
      b[#b + 1] = base .. string.format('%d', n)
    end
  end
  return b
end
-- Whether job id finished ok within the window of buckets b
-- (done_buckets): marked in this call (mark_done), the legacy string key,
-- or its field in one of b.
local function is_done(legacy, b, id)
  if b.marked and b.marked[id] then return true end
  if redis.call('EXISTS', legacy) == 1 then return true end
  for i = 1, #b do
    if redis.call('HEXISTS', b[i], id) == 1 then return true end
  end
  return false
end
-- Marks job id done now: is_done(.., b, id) answers true from here on,
-- and marks_flush writes its field in b.today.
local function mark_done(b, id)
  if not b.marked then b.marked, b.unwritten = {}, {} end
  if b.marked[id] then return end
  b.marked[id] = true
  b.unwritten[#b.unwritten + 1] = id
end
-- Writes the markers mark_done recorded in b, in one HSET of b.today (the
-- caller checked that it is a hash or none), and sets the bucket to last
-- ttl ms past its end (PEXPIREAT, once per b: HSET keeps a TTL).
local function marks_flush(b)
  if not b.unwritten or #b.unwritten == 0 then return end
  local h = {'HSET', b.today}
  for i = 1, #b.unwritten do
    h[#h + 1] = b.unwritten[i]
    h[#h + 1] = '1'
  end
  redis.call(unpack(h))
  b.unwritten = {}
  if b.expiry_set then return end
  redis.call('PEXPIREAT', b.today, b.expire_at)
  b.expiry_set = true
end
