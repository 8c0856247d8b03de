-- A membership began or ended: moves the user's version (a rebuild that read
-- MongoDB before it is not written) and updates the cache when it is one of
-- this generation (an older one is rebuilt on its next read anyway).
--
-- KEYS[1]  {uc:<user>}:rooms
-- KEYS[2]  {uc:<user>}:version
-- ARGV[1]  the window generation now
-- ARGV[2]  room
-- ARGV[3]  the membership's JSON, '' when it ended
-- ARGV[4]  TTL (ms) of the version
--
-- Replies 1.
local rooms, version = KEYS[1], KEYS[2]
redis.call('INCR', version)
redis.call('PEXPIRE', version, ARGV[4])
if redis.call('HGET', rooms, '!g') == ARGV[1] then
  if ARGV[3] == '' then redis.call('HDEL', rooms, ARGV[2]) else redis.call('HSET', rooms, ARGV[2], ARGV[3]) end
end
return 1
