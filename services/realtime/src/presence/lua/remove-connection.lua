-- Removes one connection, prunes entries past their backstop expiry, and
-- answers the removed entry's expiry and the connections that remain,
-- atomically on the user's key. Which of those are live depends on their
-- nodes' heartbeats, which the caller knows (presence/index.ts).
--
-- KEYS[1]  the user's connections: sorted set "<nodeId>:<socketId>" scored by backstop expiry (ms)
-- ARGV[1]  the connection's member
-- ARGV[2]  now (ms)
--
-- Replies {expiry, member...}:
--   expiry  the removed entry's score as a string, '0' when it was not there
--   member  each remaining connection
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local reply = { score or '0' }
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do reply[#reply + 1] = member end
return reply
