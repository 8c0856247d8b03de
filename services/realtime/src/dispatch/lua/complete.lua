-- The provider holding the order completes it. Completing twice answers
-- 'already'.
--
-- KEYS[1]  order hash
-- KEYS[2]  provider hash
-- ARGV[1]  orderId
-- ARGV[2]  providerId
-- ARGV[3]  now (ms)
--
-- Replies (reply.lua):
--   completed  {'completed', '', order hash...}
--   already    {'already', '', order hash...}: completed by this provider before
--   forbidden  {'forbidden', '', order hash...}: not assigned to this provider
--   missing    {'missing', ''}: no such order
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[1], 'status') == 'completed' and redis.call('HGET', KEYS[1], 'providerId') == ARGV[2] then
  return reply('already', KEYS[1])
end
if redis.call('HGET', KEYS[1], 'status') ~= 'assigned' or redis.call('HGET', KEYS[1], 'providerId') ~= ARGV[2] then
  return reply('forbidden', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', 'completed', 'updatedAt', ARGV[3])
if redis.call('HGET', KEYS[2], 'orderId') == ARGV[1] then
  redis.call('HSET', KEYS[2], 'status', 'available', 'orderId', '', 'updatedAt', ARGV[3])
end
return reply('completed', KEYS[1])
