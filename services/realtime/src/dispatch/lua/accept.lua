-- A provider accepts the order offered to it. Accepting twice answers
-- 'already' (safe retries).
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
--   assigned   {'assigned', '', order hash...}
--   already    {'already', '', order hash...}: assigned to this provider before
--   forbidden  {'forbidden', '', order hash...}: not offered to this provider
--   busy       {'busy', '', order hash...}: the provider holds another order
--   missing    {'missing', ''}: no such order
--   restoring  {'restoring', ''}: Redis lost its data, the restore has not finished
if restoring() then return {'restoring', ''} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[3], 'status') == 'assigned' and redis.call('HGET', KEYS[3], 'providerId') == ARGV[2] then
  return reply('already', KEYS[3])
end
if redis.call('HGET', KEYS[3], 'status') ~= 'offered' or redis.call('HGET', KEYS[3], 'providerId') ~= ARGV[2] then
  return reply('forbidden', KEYS[3])
end
if redis.call('HGET', KEYS[5], 'status') == 'busy' and redis.call('HGET', KEYS[5], 'orderId') ~= ARGV[1] then
  return reply('busy', KEYS[3])
end
redis.call('HSET', KEYS[3], 'status', 'assigned', 'acceptedBy', ARGV[2], 'offerExpiresAt', '', 'updatedAt', ARGV[3])
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('HSET', KEYS[5], 'status', 'busy', 'orderId', ARGV[1], 'updatedAt', ARGV[3])
end
record(KEYS[3], KEYS[4], 'accept', 'offered', ARGV[2])
return reply('assigned', KEYS[3])
