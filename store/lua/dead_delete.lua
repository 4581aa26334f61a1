-- store/dead.c pacer_dead_delete: deletes one job id's dead letter and its
-- kept original.
-- KEYS: deadjob dead (<prefix>deadjob:<id>, <prefix>dead)
-- Returns 1 when the kept original named a dead letter (both deleted), 0
-- when nothing was kept (the caller then looks for the letter in the
-- stream by its id field).
local did = redis.call('HGET', KEYS[1], 'dead')
redis.call('DEL', KEYS[1])
if not did then return 0 end
redis.call('XDEL', KEYS[2], did)
return 1
