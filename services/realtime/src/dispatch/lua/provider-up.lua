-- A provider goes online (mode 'online') or sends its location (mode
-- 'location'). Going online again (a reconnect, or its replica announcing it
-- again after Redis lost its data) keeps the provider's status and order.
--
-- KEYS[1]  epoch key (outbox.lua)
-- KEYS[2]  outbox stream (unused: a provider is not an order)
-- KEYS[3]  provider hash
-- KEYS[4]  GEO set of online providers
-- ARGV[1]  userId
-- ARGV[2]  socket id
-- ARGV[3]  node id
-- ARGV[4]  lat
-- ARGV[5]  lng
-- ARGV[6]  now (ms)
-- ARGV[7]  provider TTL (ms)
-- ARGV[8]  mode: 'online' | 'location'
--
-- Replies (reply.lua):
--   ok         {'ok', '', provider hash...}
--   offline    {'offline', ''}: a location from a provider that is not online
--   restoring  {'restoring', ''}: Redis lost its data, the restore has not finished
if restoring() then return {'restoring', ''} end
if ARGV[8] == 'location' and redis.call('EXISTS', KEYS[3]) == 0 then return {'offline', ''} end
local status = redis.call('HGET', KEYS[3], 'status') or 'available'
redis.call('HSET', KEYS[3], 'userId', ARGV[1], 'socket', ARGV[2], 'node', ARGV[3], 'lat', ARGV[4], 'lng', ARGV[5], 'status', status, 'updatedAt', ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
redis.call('GEOADD', KEYS[4], ARGV[5], ARGV[4], ARGV[1])
return reply('ok', KEYS[3])
