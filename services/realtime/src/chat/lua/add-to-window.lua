-- Adds messages to one room's window and trims it, in one step so trimming and
-- the "whole history" bit stay consistent. A fill mark of an older generation
-- than the window's does not replace it.
--
-- The '!filled' member marks a window filled from the database (FILLED in
-- recent-window.ts): score generation * 2, plus 1 while the window holds the
-- room's whole history (cleared as soon as the oldest message is trimmed away).
--
-- KEYS[1]     the window: sorted set of messages scored by ts
-- ARGV[1]     size (messages kept)
-- ARGV[2]     TTL (ms)
-- ARGV[3]     fill mark ('' for a plain add)
-- ARGV[4...]  ts, member, ts, member...
--
-- Replies:
--   the window's fill mark as a string, or nil (null) when it was never filled
local key = KEYS[1]
for i = 4, #ARGV, 2 do redis.call('ZADD', key, ARGV[i], ARGV[i + 1]) end
local filled = redis.call('ZSCORE', key, '!filled')
if ARGV[3] ~= '' and (not filled or math.floor(tonumber(filled) / 2) <= math.floor(tonumber(ARGV[3]) / 2)) then
  filled = ARGV[3]
  redis.call('ZADD', key, filled, '!filled')
end
local removed = redis.call('ZREMRANGEBYRANK', key, 1, -(tonumber(ARGV[1]) + 1))
if filled and removed > 0 and tonumber(filled) % 2 == 1 then
  filled = tostring(tonumber(filled) - 1)
  redis.call('ZADD', key, filled, '!filled')
end
redis.call('PEXPIRE', key, ARGV[2])
return filled
