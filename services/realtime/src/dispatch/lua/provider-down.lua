-- A provider goes offline: its record and GEO entry go, and a pending offer
-- goes back to searching.
--
-- KEYS[1]  epoch key (outbox.lua)
-- KEYS[2]  outbox stream
-- KEYS[3]  provider hash
-- KEYS[4]  GEO set of online providers
-- KEYS[5]  order hash of the orderId the caller read from the provider (any
--          key of the same slot when there is none)
-- KEYS[6]  that order's tried set
-- ARGV[1]  userId
-- ARGV[2]  expected orderId ('' for none)
-- ARGV[3]  now (ms)
--
-- Replies (reply.lua):
--   retry      {'retry', ''}: the provider's order changed since the caller read it
--   released   {'released', '', order hash...}: its pending offer went back to searching
--   ok         {'ok', ''}
--   restoring  {'restoring', ''}: Redis lost its data, the restore has not finished
if restoring() then return {'restoring', ''} end
local cur = redis.call('HGET', KEYS[3], 'orderId') or ''
if cur ~= ARGV[2] then return {'retry', ''} end
local status = redis.call('HGET', KEYS[3], 'status')
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
if status == 'offered' and cur ~= '' and redis.call('HGET', KEYS[5], 'status') == 'offered' and redis.call('HGET', KEYS[5], 'providerId') == ARGV[1] then
  redis.call('HSET', KEYS[5], 'status', 'searching', 'providerId', '', 'offerExpiresAt', '', 'updatedAt', ARGV[3])
  record(KEYS[5], KEYS[6], 'offline', 'offered', ARGV[1])
  return reply('released', KEYS[5])
end
return {'ok', ''}
