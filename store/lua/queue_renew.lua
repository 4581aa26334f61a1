-- store/queue.c: lease renewal.
-- KEYS: stream  ARGV: group consumer id...
-- Resets the idle time of the ids this consumer still owns (XCLAIM
-- min-idle 0 would also take back an entry another consumer took over
-- after our lease ran out). Returns the ids owned by someone else now.
local mine, lost = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}, {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p > 0 then
    if p[1][2] == ARGV[2] then mine[#mine + 1] = ARGV[i]
    else lost[#lost + 1] = ARGV[i] end
  end
end
if #mine > 5 then
  mine[#mine + 1] = 'JUSTID'
  redis.call(unpack(mine))
end
return lost
