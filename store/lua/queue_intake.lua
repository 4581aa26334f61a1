-- store/queue.c: one intake round (docs/REDIS.md "Priority streams"),
-- atomic, so that one command hands over the whole round.
-- KEYS: jobs:high jobs jobs:low  ARGV: group consumer plan_high plan_normal
--       plan_low
--   pass 1  each stream in turn: its planned share plus what the stream
--           before it left unused (carry);
--   pass 2  what is still unused goes to high, then normal, unless they
--           came back short in pass 1.
-- The total never exceeds the sum of the plan. Returns {s, entries, s,
-- entries, ...}: s the stream (1 high, 2 normal, 3 low), entries as in an
-- XREADGROUP reply; then {0, error} when a stream could not be read
-- (NOGROUP after a reset, WRONGTYPE). That stream's share passes down and
-- the others are still read: an error reply would leave what was already
-- read pending until the lease.
local plan = {tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])}
local order = {1, 2, 3, 1, 2}
local out, carry, short, err = {}, 0, {}, nil
for step = 1, #order do
  local s = order[step]
  local want = carry
  if step <= 3 then want = plan[s] + carry
  elseif short[s] then want = 0 end
  if want > 0 then
    local r = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2],
                          'COUNT', want, 'STREAMS', KEYS[s], '>')
    local got = 0
    if type(r) == 'table' and r.err then
      err = err or r.err
    elseif r and #r[1][2] > 0 then
      got = #r[1][2]
      out[#out + 1] = s
      out[#out + 1] = r[1][2]
    end
    carry = want - got
    if got < want then short[s] = true end
  end
end
if err then
  out[#out + 1] = 0
  out[#out + 1] = err
end
return out
