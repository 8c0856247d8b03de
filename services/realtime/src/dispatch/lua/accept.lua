-- A provider accepts the order offered to it. Accepting twice answers
-- 'already' (safe retries).
--
-- KEYS[1]  order hash
-- KEYS[2]  provider hash
-- ARGV[1]  orderId
-- ARGV[2]  providerId
-- ARGV[3]  now (ms)
--
-- Replies (reply.lua):
--   assigned   {'assigned', '', order hash...}
--   already    {'already', '', order hash...}: assigned to this provider before
--   forbidden  {'forbidden', '', order hash...}: not offered to this provider
--   busy       {'busy', '', order hash...}: the provider holds another order
--   missing    {'missing', ''}: no such order
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[1], 'status') == 'assigned' and redis.call('HGET', KEYS[1], 'providerId') == ARGV[2] then
  return reply('already', KEYS[1])
end
if redis.call('HGET', KEYS[1], 'status') ~= 'offered' or redis.call('HGET', KEYS[1], 'providerId') ~= ARGV[2] then
  return reply('forbidden', KEYS[1])
end
if redis.call('HGET', KEYS[2], 'status') == 'busy' and redis.call('HGET', KEYS[2], 'orderId') ~= ARGV[1] then
  return reply('busy', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', 'assigned', 'offerExpiresAt', '', 'updatedAt', ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'status', 'busy', 'orderId', ARGV[1], 'updatedAt', ARGV[3])
end
return reply('assigned', KEYS[1])
