-- Checks that a token's session still counts, and that it is the token's user's.
-- A revoked session stays marked until its tokens expire, so a token presented
-- again after logout or revoke is refused (an identity provider's token would
-- otherwise simply open the session anew).
--
-- KEYS[1]  session hash (userId, name, source, createdAt, expiresAt, revokedAt once ended)
-- ARGV[1]  the token's user (sub)
-- ARGV[2]  the token's display name
-- ARGV[3]  epoch ms until which the record is kept (the token's expiry plus the clock skew)
-- ARGV[4]  1: open the session when it is unknown (identity-provider tokens); 0: unknown is refused (demo logins)
-- ARGV[5]  now, epoch ms
--
-- Replies:
--   'ok'        the session is the user's and live
--   'opened'    it was unknown and is now open (ARGV[4] = 1)
--   'missing'   unknown, and not to be opened (a demo session that expired, was ended, or never existed)
--   'revoked'   ended by logout or revoke
--   'mismatch'  the session belongs to another user: the token is refused
if redis.call('HEXISTS', KEYS[1], 'revokedAt') == 1 then return 'revoked' end
local owner = redis.call('HGET', KEYS[1], 'userId')
if not owner then
  if ARGV[4] ~= '1' then return 'missing' end
  redis.call('HSET', KEYS[1], 'userId', ARGV[1], 'name', ARGV[2], 'source', 'idp', 'createdAt', ARGV[5], 'lastActiveAt', ARGV[5], 'expiresAt', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  return 'opened'
end
if owner ~= ARGV[1] then return 'mismatch' end
return 'ok'
