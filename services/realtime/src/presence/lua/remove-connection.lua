-- Removes one connection, prunes expired ones, and answers the removed entry's
-- expiry and how many live connections remain, atomically on the user's key.
--
-- KEYS[1]  the user's connections: sorted set "<nodeId>:<socketId>" scored by expiry (ms)
-- ARGV[1]  the connection's member
-- ARGV[2]  now (ms)
--
-- Replies {expiry, left}:
--   expiry  the removed entry's score as a string, '0' when it was not there
--   left    live connections remaining (integer)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local left = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
return {score or '0', left}
