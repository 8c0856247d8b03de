-- Notes a login session's activity for its owner's device list: when it was
-- last active, the first User-Agent seen with it, and how many of its sockets
-- one replica holds. Never brings an ended or expired session back: an unknown
-- key is left alone (a write would create it without its TTL).
--
-- KEYS[1]  session hash (userId, ..., lastActiveAt, userAgent, sockets:<nodeId>)
-- ARGV[1]  when the activity happened, epoch ms: lastActiveAt moves forward only
-- ARGV[2]  a User-Agent, kept only if the session has none yet ('' for none)
-- ARGV[3]  the replica's node id, or '' to leave the socket counts alone
-- ARGV[4]  that replica's sockets of this session now, every namespace (0 removes its field)
--
-- Replies:
--   1  noted
--   0  unknown, expired or ended: nothing written
if redis.call('HEXISTS', KEYS[1], 'userId') == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'revokedAt') == 1 then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], 'lastActiveAt') or '0') or 0
if tonumber(ARGV[1]) > last then redis.call('HSET', KEYS[1], 'lastActiveAt', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HSETNX', KEYS[1], 'userAgent', ARGV[2]) end
if ARGV[3] ~= '' then
  local field = 'sockets:' .. ARGV[3]
  if tonumber(ARGV[4]) > 0 then redis.call('HSET', KEYS[1], field, ARGV[4]) else redis.call('HDEL', KEYS[1], field) end
end
return 1
