-- Shared by the batched scripts (queue_finish.lua, queue_dropdone.lua),
-- included by a "--! include lib_batch.lua" line: one entry's code or
-- error, so that one entry's error stays its own and the others stand.

-- The reply element of an entry whose check or write ran as
-- pcall(fn, ...) returning ok, r: r itself, or r's error as an error reply.
local function entry_reply(ok, r)
  if ok then
    return r
  elseif type(r) == 'table' and r.err then
    return redis.error_reply(r.err)
  end
  return redis.error_reply(tostring(r))
end
