-- The provider holding the order completes it. Completing twice answers
-- 'already'.
--
-- KEYS[1]  epoch key (outbox.lua)
-- KEYS[2]  outbox stream
-- KEYS[3]  order hash
-- KEYS[4]  order's tried set
-- KEYS[5]  provider hash
-- ARGV[1]  orderId
-- ARGV[2]  providerId
-- ARGV[3]  now (ms)
--
-- Replies (reply.lua):
--   completed  {'completed', '', order hash...}
--   already    {'already', '', order hash...}: completed by this provider before
--   forbidden  {'forbidden', '', order hash...}: not assigned to this provider
--   missing    {'missing', ''}: no such order
--   restoring  {'restoring', ''}: Redis lost its data, the restore has not finished
if restoring() then return {'restoring', ''} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[3], 'status') == 'completed' and redis.call('HGET', KEYS[3], 'providerId') == ARGV[2] then
  return reply('already', KEYS[3])
end
if redis.call('HGET', KEYS[3], 'status') ~= 'assigned' or redis.call('HGET', KEYS[3], 'providerId') ~= ARGV[2] then
  return reply('forbidden', KEYS[3])
end
redis.call('HSET', KEYS[3], 'status', 'completed', 'updatedAt', ARGV[3])
if redis.call('HGET', KEYS[5], 'orderId') == ARGV[1] then
  redis.call('HSET', KEYS[5], 'status', 'available', 'orderId', '', 'updatedAt', ARGV[3])
end
record(KEYS[3], KEYS[4], 'complete', 'assigned', ARGV[2])
return reply('completed', KEYS[3])
