-- store/queue.c: deletes this process's consumer on a clean stop.
-- KEYS: the intake streams  ARGV: group consumer
-- Deletes the consumer from every intake stream, but only while it owns no
-- pending entry in any of them (a consumer with pending entries is never
-- deleted). A stream whose group is missing (XPENDING fails) holds nothing
-- of ours.
for i = 1, #KEYS do
  local ok, p = pcall(redis.call, 'XPENDING', KEYS[i], ARGV[1], '-',
                      '+', 1, ARGV[2])
  if ok and #p > 0 then return 0 end
end
for i = 1, #KEYS do
  pcall(redis.call, 'XGROUP', 'DELCONSUMER', KEYS[i], ARGV[1], ARGV[2])
end
return 1
