-- Creates an order unless one with its id exists (a retried create).
--
-- KEYS[1]     epoch key (outbox.lua)
-- KEYS[2]     outbox stream
-- KEYS[3]     order hash
-- KEYS[4]     order's tried set
-- ARGV[1]     most transitions the outbox may hold before new orders are refused
-- ARGV[2...]  field, value, field, value...
--
-- Replies (reply.lua):
--   created    {'created', '', order hash...}
--   exists     {'exists', '', order hash...}: the order created earlier
--   backlog    {'backlog', ''}: the outbox is full (MongoDB has been away): no new orders
--   restoring  {'restoring', ''}: Redis lost its data, the restore has not finished
if restoring() then return {'restoring', ''} end
if redis.call('EXISTS', KEYS[3]) == 1 then return reply('exists', KEYS[3]) end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[1]) then return {'backlog', ''} end
redis.call('HSET', KEYS[3], unpack(ARGV, 2))
record(KEYS[3], KEYS[4], 'create', '', '')
return reply('created', KEYS[3])
