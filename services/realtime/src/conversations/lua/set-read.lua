-- Writes a user's read position in a room unless the one there, written
-- under this generation, is the same or later (positions only move forward;
-- one loaded from MongoDB never undoes a newer message:read).
--
-- KEYS[1]  the room's read positions
-- ARGV[1]  user
-- ARGV[2]  the window generation now
-- ARGV[3]  readTs (0 before the first message:read)
-- ARGV[4]  readId ('' before the first message:read)
-- ARGV[5]  TTL (ms)
--
-- Replies the entry now there.
local reads, user, gen = KEYS[1], ARGV[1], ARGV[2]
local ts, id = tonumber(ARGV[3]), ARGV[4]
local entry = redis.call('HGET', reads, user)
if entry then
  local rg, rts, rid = parse_read(entry)
  if rg == gen and not after(ts, id, rts, rid) then return entry end
end
entry = gen .. '|' .. ARGV[3] .. '|' .. id .. '|||'
redis.call('HSET', reads, user, entry)
redis.call('PEXPIRE', reads, ARGV[5])
return entry
