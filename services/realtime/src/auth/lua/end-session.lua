-- Ends a session: marks it revoked rather than deleting it, so its tokens stay
-- refused until they expire, on every replica, whoever signed them.
--
-- KEYS[1]  session hash
-- ARGV[1]  now, epoch ms
-- ARGV[2]  epoch ms to keep the mark until when the session is unknown here (an
--          operator ending an id this service has not seen yet: now + SESSION_TTL_SEC)
-- ARGV[3]  the user who asks, or '' for an operator (admin): a user ends only their
--          own sessions, and only ones this service knows
--
-- Replies:
--   {'ended', <owner or ''>}   marked (again: ending twice is harmless)
--   {'forbidden', <owner>}     the session is another user's: left alone
--   {'missing', ''}            a user asked for a session nobody holds here: left alone
local owner = redis.call('HGET', KEYS[1], 'userId') or ''
if ARGV[3] ~= '' then
  if owner == '' then return {'missing', ''} end
  if owner ~= ARGV[3] then return {'forbidden', owner} end
end
redis.call('HSET', KEYS[1], 'revokedAt', ARGV[1])
if owner == '' then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return {'ended', owner}
