-- Adds messages to one room's window and trims it, in one step so trimming and
-- the "whole history" bit stay consistent. A fill mark of an older generation
-- than the window's does not replace it. Given the sender's pending reminders
-- in the room, it also takes them (reads and deletes the set), so a send costs
-- one round trip for its window add and the reminders its message answers.
--
-- The '!filled' member marks a window filled from the database (FILLED in
-- recent-window.ts): score generation * 2, plus 1 while the window holds the
-- room's whole history (cleared as soon as the oldest message is trimmed away).
--
-- KEYS[1]     the window: sorted set of messages scored by ts
-- KEYS[2]     the sender's pending reminders in this room (set of job ids), or
--             KEYS[1] again when there is nothing to take
-- ARGV[1]     size (messages kept)
-- ARGV[2]     TTL (ms)
-- ARGV[3]     fill mark ('' for a plain add)
-- ARGV[4...]  ts, member, ts, member...
--
-- Replies {mark, jobId...}:
--   mark   the window's fill mark as a string, '' when it was never filled
--   jobId  the reminders taken from KEYS[2], if any
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
local reply = { filled or '' }
if KEYS[2] ~= key then
  local taken = redis.call('SMEMBERS', KEYS[2])
  if #taken > 0 then
    redis.call('DEL', KEYS[2])
    for _, id in ipairs(taken) do reply[#reply + 1] = id end
  end
end
return reply
