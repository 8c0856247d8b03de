-- Adds messages to one room's window and trims it, in one step so trimming and
-- the "whole history" bit stay consistent. A fill mark of an older generation
-- than the window's does not replace it. Given the sender's pending reminders
-- in the room, it also takes them (reads and deletes the set), so a send costs
-- one round trip for its window add and the reminders its message answers.
-- New messages are also counted in the room's conversation state (the same
-- hash tag), which conversations/lua/unread.lua reads: its messages, each
-- sender's own, and the newest one.
--
-- The '!filled' member marks a window filled from the database (FILLED in
-- recent-window.ts): score generation * 2, plus 1 while the window holds the
-- room's whole history (cleared as soon as the oldest message is trimmed away).
--
-- KEYS[1]     the window: sorted set of messages scored by ts
-- KEYS[2]     the sender's pending reminders in this room (set of job ids), or
--             KEYS[1] again when there is nothing to take
-- KEYS[3]     the room's conversation state (hash, conversations/keys.ts):
--             n (messages), o:<user> (that user's messages), lt li lm (the
--             newest message's ts, id and window member), ob (bumped when a
--             message lands where a read count cached below it may have
--             missed it), g (the window generation it was counted under,
--             set by a recount or by the room's first message)
-- ARGV[1]     size (messages kept; 0: no window, the state is still counted)
-- ARGV[2]     TTL (ms)
-- ARGV[3]     fill mark ('' for a plain add)
-- ARGV[4]     count: '0' none (a fill), '1' each message the window did not
--             hold (a new message), '2' only those it did not hold and keeps
--             (a resend that may mend a missed add)
-- ARGV[5]     the window generation the caller knows ('' when unknown)
-- ARGV[6]     the state's TTL (ms)
-- ARGV[7...]  ts, member, ts, member...
--
-- Replies {mark, jobId...}:
--   mark   the window's fill mark as a string, '' when it was never filled
--   jobId  the reminders taken from KEYS[2], if any
local key, state = KEYS[1], KEYS[3]
local size, count = tonumber(ARGV[1]), ARGV[4]
local added = {}
local filled = false
if size > 0 then
  for i = 7, #ARGV, 2 do added[#added + 1] = redis.call('ZADD', key, ARGV[i], ARGV[i + 1]) end
  filled = redis.call('ZSCORE', key, '!filled')
  if ARGV[3] ~= '' and (not filled or math.floor(tonumber(filled) / 2) <= math.floor(tonumber(ARGV[3]) / 2)) then
    filled = ARGV[3]
    redis.call('ZADD', key, filled, '!filled')
  end
  local removed = redis.call('ZREMRANGEBYRANK', key, 1, -(size + 1))
  if filled and removed > 0 and tonumber(filled) % 2 == 1 then
    filled = tostring(tonumber(filled) - 1)
    redis.call('ZADD', key, filled, '!filled')
  end
  redis.call('PEXPIRE', key, ARGV[2])
end

if count ~= '0' then
  -- A room's first message (its registration's mark): the state holds the whole history from it on, like the window.
  if ARGV[3] ~= '' and tonumber(ARGV[3]) % 2 == 1 and redis.call('EXISTS', state) == 0 then
    redis.call('HSET', state, 'g', math.floor(tonumber(ARGV[3]) / 2), 'n', 0)
  end
  local trusted = size > 0 and filled and ARGV[5] ~= '' and math.floor(tonumber(filled) / 2) == tonumber(ARGV[5])
  for i = 7, #ARGV, 2 do
    local ts, member = tonumber(ARGV[i]), ARGV[i + 1]
    local new = size == 0 or added[(i - 5) / 2] == 1
    if new and count == '2' then new = size > 0 and redis.call('ZSCORE', key, member) ~= false end
    if new then
      local id = string.sub(member, 1, 24)
      local user = string.match(member, '^%x+%[%d+,"([^"]*)"') or ''
      redis.call('HINCRBY', state, 'n', 1)
      redis.call('HINCRBY', state, 'o:' .. user, 1)
      local lt = tonumber(redis.call('HGET', state, 'lt') or '0')
      local li = redis.call('HGET', state, 'li') or ''
      if ts > lt or (ts == lt and id > li) then
        redis.call('HSET', state, 'lt', ARGV[i], 'li', id, 'lm', member)
      elseif not trusted or (size > 0 and redis.call('ZSCORE', key, member) == false) then
        -- Older than the newest, and not in a trusted window: a read count cached for a later position may lack it.
        redis.call('HINCRBY', state, 'ob', 1)
      end
    end
  end
  redis.call('PEXPIRE', state, ARGV[6])
end

local reply = { filled or '' }
if KEYS[2] ~= key then
  local taken = redis.call('SMEMBERS', KEYS[2])
  if #taken > 0 then
    redis.call('DEL', KEYS[2])
    for _, id in ipairs(taken) do reply[#reply + 1] = id end
  end
end
return reply
