-- Writes a user's conversation cache, rebuilt from MongoDB, unless a
-- membership changed since the caller read MongoDB (the version moved): then
-- the caller reads again.
--
-- KEYS[1]  {uc:<user>}:rooms
-- KEYS[2]  {uc:<user>}:version
-- ARGV[1]  the version read before MongoDB ('' when there was none)
-- ARGV[2]  the window generation now (the cache's "!g")
-- ARGV[3]  TTL (ms)
-- ARGV[4...] room, membership JSON, room, membership JSON...
--
-- Replies 1 when written, 0 when the version moved.
local rooms, version = KEYS[1], KEYS[2]
if (redis.call('GET', version) or '') ~= ARGV[1] then return 0 end
redis.call('DEL', rooms)
redis.call('HSET', rooms, '!g', ARGV[2])
-- In slices: a call takes a bounded number of arguments.
for i = 4, #ARGV, 200 do
  local last = math.min(i + 199, #ARGV)
  redis.call('HSET', rooms, unpack(ARGV, i, last))
end
redis.call('PEXPIRE', rooms, ARGV[3])
return 1
