-- A provider goes offline: its record and GEO entry go, and a pending offer
-- goes back to searching.
--
-- KEYS[1]  provider hash
-- KEYS[2]  GEO set of online providers
-- KEYS[3]  order hash of the orderId the caller read from the provider (any
--          key of the same slot when there is none)
-- ARGV[1]  userId
-- ARGV[2]  expected orderId ('' for none)
-- ARGV[3]  now (ms)
--
-- Replies (reply.lua):
--   retry     {'retry', ''}: the provider's order changed since the caller read it
--   released  {'released', '', order hash...}: its pending offer went back to searching
--   ok        {'ok', ''}
local cur = redis.call('HGET', KEYS[1], 'orderId') or ''
if cur ~= ARGV[2] then return {'retry', ''} end
local status = redis.call('HGET', KEYS[1], 'status')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if status == 'offered' and cur ~= '' and redis.call('HGET', KEYS[3], 'status') == 'offered' and redis.call('HGET', KEYS[3], 'providerId') == ARGV[1] then
  redis.call('HSET', KEYS[3], 'status', 'searching', 'providerId', '', 'offerExpiresAt', '', 'updatedAt', ARGV[3])
  return reply('released', KEYS[3])
end
return {'ok', ''}
