-- Decline or timeout: the pending offer ends and the order searches again.
--
-- KEYS[1]  epoch key (outbox.lua)
-- KEYS[2]  outbox stream
-- KEYS[3]  order hash
-- KEYS[4]  order's tried set
-- KEYS[5]  provider hash
-- ARGV[1]  orderId
-- ARGV[2]  providerId
-- ARGV[3]  attempt the offer was made at ('' for any: a decline)
-- ARGV[4]  now (ms)
--
-- Replies (reply.lua):
--   released   {'released', '', order hash...}
--   stale      {'stale', '', order hash...}: not offered to this provider (at this attempt)
--   missing    {'missing', ''}: no such order
--   restoring  {'restoring', ''}: Redis lost its data, the restore has not finished
if restoring() then return {'restoring', ''} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[3], 'status') ~= 'offered' or redis.call('HGET', KEYS[3], 'providerId') ~= ARGV[2]
  or (ARGV[3] ~= '' and redis.call('HGET', KEYS[3], 'attempt') ~= ARGV[3]) then
  return reply('stale', KEYS[3])
end
redis.call('HSET', KEYS[3], 'status', 'searching', 'providerId', '', 'offerExpiresAt', '', 'updatedAt', ARGV[4])
if redis.call('HGET', KEYS[5], 'orderId') == ARGV[1] then
  redis.call('HSET', KEYS[5], 'status', 'available', 'orderId', '', 'updatedAt', ARGV[4])
end
record(KEYS[3], KEYS[4], ARGV[3] == '' and 'decline' or 'timeout', 'offered', ARGV[2])
return reply('released', KEYS[3])
