-- store/submit.c: queues one job unless its id already finished.
-- KEYS: stream done-marker  ARGV: field value ...
-- XADD unless the job id already finished ok within done_ttl_ms (its
-- done-marker exists, store/keys.h): then nil, and nothing is queued.
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local a = {'XADD', KEYS[1], '*'}
for i = 1, #ARGV do a[#a + 1] = ARGV[i] end
return redis.call(unpack(a))
