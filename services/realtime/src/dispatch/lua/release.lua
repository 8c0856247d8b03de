-- Decline or timeout: the pending offer ends and the order searches again.
--
-- KEYS[1]  order hash
-- KEYS[2]  provider hash
-- ARGV[1]  orderId
-- ARGV[2]  providerId
-- ARGV[3]  attempt the offer was made at ('' for any: a decline)
-- ARGV[4]  now (ms)
--
-- Replies (reply.lua):
--   released  {'released', '', order hash...}
--   stale     {'stale', '', order hash...}: not offered to this provider (at this attempt)
--   missing   {'missing', ''}: no such order
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[1], 'status') ~= 'offered' or redis.call('HGET', KEYS[1], 'providerId') ~= ARGV[2]
  or (ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[3]) then
  return reply('stale', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', 'searching', 'providerId', '', 'offerExpiresAt', '', 'updatedAt', ARGV[4])
if redis.call('HGET', KEYS[2], 'orderId') == ARGV[1] then
  redis.call('HSET', KEYS[2], 'status', 'available', 'orderId', '', 'updatedAt', ARGV[4])
end
return reply('released', KEYS[1])
