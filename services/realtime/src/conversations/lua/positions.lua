-- Helpers of the conversations' scripts, put before them (not a script of its own)
-- since Redis scripts cannot include one another. A window member is "<24 hex id>[ts,"userId",...]"
-- (chat/recent-window.ts); a read entry is "rg|readTs|readId|cg|cob|nonOwn"
-- (conversations/keys.ts).

-- Whether (ts1, id1) comes after (ts2, id2) in the room's order.
local function after(ts1, id1, ts2, id2)
  return ts1 > ts2 or (ts1 == ts2 and id1 > id2)
end

-- A window member's id, ts and sender.
local function parse_member(member)
  local ts, user = string.match(member, '^%x+%[(%d+),"([^"]*)"')
  return string.sub(member, 1, 24), tonumber(ts), user
end

-- A read entry's fields: rg, readTs, readId, cg, cob, nonOwn (strings; readTs a number).
local function parse_read(entry)
  local f = {}
  for part in string.gmatch(entry .. '|', '([^|]*)|') do f[#f + 1] = part end
  return f[1], tonumber(f[2]) or 0, f[3] or '', f[4] or '', f[5] or '', f[6] or ''
end
