-- A provider goes online (mode 'online') or sends its location (mode
-- 'location'). Going online again (a reconnect) keeps the provider's status
-- and order.
--
-- KEYS[1]  provider hash
-- KEYS[2]  GEO set of online providers
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
--   ok       {'ok', '', provider hash...}
--   offline  {'offline', ''}: a location from a provider that is not online
if ARGV[8] == 'location' and redis.call('EXISTS', KEYS[1]) == 0 then return {'offline', ''} end
local status = redis.call('HGET', KEYS[1], 'status') or 'available'
redis.call('HSET', KEYS[1], 'userId', ARGV[1], 'socket', ARGV[2], 'node', ARGV[3], 'lat', ARGV[4], 'lng', ARGV[5], 'status', status, 'updatedAt', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('GEOADD', KEYS[2], ARGV[5], ARGV[4], ARGV[1])
return reply('ok', KEYS[1])
