-- Takes a lock, or extends it when we hold it already (the outbox writer and
-- the restore each hold one, so one replica at a time does that work).
--
-- KEYS[1]  lock key
-- ARGV[1]  our token (the node id)
-- ARGV[2]  how long the lock lasts unless extended again (ms)
--
-- Replies:
--   1  held by us until now + ARGV[2]
--   0  held by another replica
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
