-- store/queue.c: moves due delayed members back into their streams.
-- KEYS: jobs delayed jobs:high jobs:low  ARGV: batch
-- Moves due members (score <= Redis TIME in ms) and returns {moved, ms
-- until the next due member or -1}. Member layout (store/keys.h):
-- "<id>\n<attempt>\n<job JSON>" goes to jobs; with a tag line after the
-- attempt, "h" goes to jobs:high and "l" to jobs:low. A JSON text never
-- starts with "h\n" or "l\n", so old members cannot be mistaken.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now,
                       'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
  local a = string.find(m, '\n', 1, true)
  local b = a and string.find(m, '\n', a + 1, true)
  if b then
    local key, j = KEYS[1], b + 1
    local tag = string.sub(m, b + 1, b + 2)
    if tag == 'h\n' then key, j = KEYS[3], b + 3
    elseif tag == 'l\n' then key, j = KEYS[4], b + 3 end
    redis.call('XADD', key, '*', 'job', string.sub(m, j),
               'id', string.sub(m, 1, a - 1),
               'attempt', string.sub(m, a + 1, b - 1), 'promoted', '1')
  else
    redis.call('XADD', KEYS[1], '*', 'job', m, 'promoted', '1')
  end
  redis.call('ZREM', KEYS[2], m)
end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local wait = -1
if nxt[2] then
  wait = tonumber(nxt[2]) - now
  if wait < 0 then wait = 0 end
end
return {#due, wait}
