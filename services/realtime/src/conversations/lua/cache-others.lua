-- Caches how many messages of others a room holds up to a user's read
-- position, counted in MongoDB when the position is older than the window:
-- unread is then n - o:<user> - that count, with no database read. Valid
-- while the generation and the state's ob are those it was counted under.
--
-- KEYS[1]  the room's read positions
-- ARGV[1]  user
-- ARGV[2]  the window generation now
-- ARGV[3]  the read position's id the count is for
-- ARGV[4]  the state's ob before the count began
-- ARGV[5]  the count
--
-- Replies 1 when cached, 0 when the position moved meanwhile.
local reads, user, gen = KEYS[1], ARGV[1], ARGV[2]
local entry = redis.call('HGET', reads, user)
if not entry then return 0 end
local rg, rts, rid = parse_read(entry)
if rg ~= gen or rid ~= ARGV[3] then return 0 end
redis.call('HSET', reads, user, rg .. '|' .. rts .. '|' .. rid .. '|' .. gen .. '|' .. ARGV[4] .. '|' .. ARGV[5])
return 1
