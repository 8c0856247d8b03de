-- Deletes the lock only if we still own it (it may have expired and been taken).
--
-- KEYS[1]  lock key
-- ARGV[1]  our token (the lock's value when we took it)
--
-- Replies:
--   1  deleted
--   0  not ours (any more), left alone
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
