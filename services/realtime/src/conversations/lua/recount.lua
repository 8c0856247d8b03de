-- Recounts a room's state (n, o:<user>, the newest message) and marks it
-- counted under this generation. Race-free with sends counted meanwhile by
-- chat/lua/add-to-window.lua: what MongoDB counted ends just before the
-- window's oldest message (W0), and the window itself, read here in the same
-- step, supplies W0 and everything after it. A message the window gained
-- since is counted here or by its own add, not both.
--
-- KEYS[1]  the room's state
-- KEYS[2]  the room's history window
-- ARGV[1]  the window generation now
-- ARGV[2]  the state's TTL (ms)
-- ARGV[3]  'w': counted with the window (ARGV[4] is W0's member, '' when the
--          window holds the whole history); 'x': no window (ARGV[4] is the
--          newest message's member, '' when there is none)
-- ARGV[4]  see ARGV[3]
-- ARGV[5]  the room's messages MongoDB counted (before W0, or all of them)
-- ARGV[6...] user, count, user, count...: the same per sender
--
-- Replies 'ok', or 'retry' when the window is not what the caller read
-- (refilled under another generation, W0 trimmed away): read it again.
local state, window = KEYS[1], KEYS[2]
local gen, mode, anchor = ARGV[1], ARGV[3], ARGV[4]
local n = tonumber(ARGV[5])
local own = {}
for i = 6, #ARGV, 2 do own[ARGV[i]] = tonumber(ARGV[i + 1]) end
local newest = ''

if mode == 'w' then
  local mark = redis.call('ZSCORE', window, '!filled')
  if not mark or math.floor(tonumber(mark) / 2) ~= tonumber(gen) then return 'retry' end
  local start = 1
  if anchor == '' then
    if tonumber(mark) % 2 ~= 1 then return 'retry' end
  else
    start = redis.call('ZRANK', window, anchor)
    if not start then return 'retry' end
  end
  local members = redis.call('ZRANGE', window, start, -1)
  for _, member in ipairs(members) do
    local _, _, user = parse_member(member)
    n = n + 1
    own[user] = (own[user] or 0) + 1
  end
  newest = members[#members] or ''
else
  newest = anchor
end

local ob = tonumber(redis.call('HGET', state, 'ob') or '0') + 1
redis.call('DEL', state)
redis.call('HSET', state, 'g', gen, 'n', n, 'ob', ob)
if newest ~= '' then
  local id, ts = parse_member(newest)
  redis.call('HSET', state, 'lt', ts, 'li', id, 'lm', newest)
else
  redis.call('HSET', state, 'lt', 0, 'li', '', 'lm', '')
end
for user, count in pairs(own) do redis.call('HSET', state, 'o:' .. user, count) end
redis.call('PEXPIRE', state, ARGV[2])
return 'ok'
