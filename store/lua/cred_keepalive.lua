-- KEYS: lock  ARGV: lockval ttl_ms
-- Renews the refresh lock's lease while it holds our value.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
