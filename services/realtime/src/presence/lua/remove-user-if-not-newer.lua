-- Drops a user from the online set only if nobody refreshed them later than
-- the connection that just went away (a device that connected meanwhile on
-- another replica has a later score and keeps the user listed).
--
-- KEYS[1]  online users: sorted set userId scored by their latest connection expiry (ms)
-- ARGV[1]  userId
-- ARGV[2]  the expiry of the connection that went away (ms)
--
-- Replies:
--   1  removed
--   0  kept (refreshed later, or not listed)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
