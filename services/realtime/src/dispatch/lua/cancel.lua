-- The customer cancels the order, from any status before completed.
--
-- KEYS[1]  epoch key (outbox.lua)
-- KEYS[2]  outbox stream
-- KEYS[3]  order hash
-- KEYS[4]  order's tried set
-- KEYS[5]  provider hash of the providerId the caller read from the order
--          (any key of the same slot when there is none)
-- ARGV[1]  orderId
-- ARGV[2]  customerId
-- ARGV[3]  expected providerId ('' for none)
-- ARGV[4]  now (ms)
--
-- Replies (reply.lua), extra = the status before:
--   cancelled  {'cancelled', status before, order hash...}
--   final      {'final', status before, order hash...}: already cancelled or completed
--   forbidden  {'forbidden', '', order hash...}: not this customer's order
--   retry      {'retry', ''}: the order's provider changed since the caller read it
--   missing    {'missing', ''}: no such order
--   restoring  {'restoring', ''}: Redis lost its data, the restore has not finished
if restoring() then return {'restoring', ''} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[3], 'customerId') ~= ARGV[2] then return reply('forbidden', KEYS[3]) end
local st = redis.call('HGET', KEYS[3], 'status')
if st == 'cancelled' or st == 'completed' then return reply('final', KEYS[3], st) end
if redis.call('HGET', KEYS[3], 'providerId') ~= ARGV[3] then return {'retry', ''} end
redis.call('HSET', KEYS[3], 'status', 'cancelled', 'offerExpiresAt', '', 'updatedAt', ARGV[4])
if ARGV[3] ~= '' and redis.call('HGET', KEYS[5], 'orderId') == ARGV[1] then
  redis.call('HSET', KEYS[5], 'status', 'available', 'orderId', '', 'updatedAt', ARGV[4])
end
record(KEYS[3], KEYS[4], 'cancel', st, ARGV[3])
return reply('cancelled', KEYS[3], st)
