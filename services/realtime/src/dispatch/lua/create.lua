-- Creates an order unless one with its id exists (a retried create).
--
-- KEYS[1]     order hash
-- ARGV[1]     order TTL (ms)
-- ARGV[2...]  field, value, field, value...
--
-- Replies (reply.lua):
--   created  {'created', '', order hash...}
--   exists   {'exists', '', order hash...}: the order created earlier
if redis.call('EXISTS', KEYS[1]) == 1 then return reply('exists', KEYS[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return reply('created', KEYS[1])
