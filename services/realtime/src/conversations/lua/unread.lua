-- Unread counts of some users in one room, with the room's newest message.
-- unread(u) = the room's messages after u's read position that u did not send.
--
-- KEYS[1]  the room's state (n, o:<user>, lt li lm, ob, g)
-- KEYS[2]  the room's history window
-- KEYS[3]  the room's read positions
-- ARGV[1]  the window generation now
-- ARGV[2]  '1' when history windows are on
-- ARGV[3...] user ids
--
-- Replies {state, lm, lt, ob, then per user: code, value, readId}:
--   state  'ok', or 'stale' when the state was not counted under this
--          generation (missing, or a replica reconnected since): recount it
--   code   'n'    value is the unread count
--          'load' the read position is not here under this generation: load it from MongoDB
--          'fill' the window must be filled from MongoDB first
--          'db'   the position is older than the window: count the others'
--                 messages up to it in MongoDB (value: its ts) and cache that
local state, window, reads = KEYS[1], KEYS[2], KEYS[3]
local gen = ARGV[1]
local g = redis.call('HGET', state, 'g')
if not g or g ~= gen then return { 'stale', '', '0', '0' } end
local n = tonumber(redis.call('HGET', state, 'n') or '0')
local li = redis.call('HGET', state, 'li') or ''
local ob = redis.call('HGET', state, 'ob') or '0'
local reply = { 'ok', redis.call('HGET', state, 'lm') or '', redis.call('HGET', state, 'lt') or '0', ob }

-- The window, read once: trusted under this generation, whole history or not, its oldest message.
local mark = ARGV[2] == '1' and redis.call('ZSCORE', window, '!filled')
local trusted = mark and math.floor(tonumber(mark) / 2) == tonumber(gen)
local complete = trusted and tonumber(mark) % 2 == 1
local oldest_id, oldest_ts
if trusted and not complete then
  local first = redis.call('ZRANGE', window, 1, 1)[1]
  if first then oldest_id, oldest_ts = parse_member(first) end
end

for i = 3, #ARGV do
  local u = ARGV[i]
  local code, value, rid = 'load', 0, ''
  local entry = redis.call('HGET', reads, u)
  if entry then
    local rg, rts, id, cg, cob, non_own = parse_read(entry)
    rid = id
    if rg == gen then
      local own = tonumber(redis.call('HGET', state, 'o:' .. u) or '0')
      if rid == '' then
        code, value = 'n', n - own
      elseif rid == li then
        code, value = 'n', 0
      elseif complete or (oldest_id and not after(oldest_ts, oldest_id, rts, rid)) then
        -- Every message after the position is in the window: count them.
        local count = 0
        for _, member in ipairs(redis.call('ZRANGEBYSCORE', window, rts, '+inf')) do
          local mid, mts, muser = parse_member(member)
          if mid and muser ~= u and after(mts, mid, rts, rid) then count = count + 1 end
        end
        code, value = 'n', count
      elseif cg == gen and cob == ob and non_own ~= '' then
        code, value = 'n', n - own - tonumber(non_own)
      elseif ARGV[2] == '1' and not trusted then
        code = 'fill'
      else
        code, value = 'db', rts
      end
      if code == 'n' and value < 0 then value = 0 end
    end
  end
  reply[#reply + 1] = code
  reply[#reply + 1] = tostring(value)
  reply[#reply + 1] = rid
end
return reply
