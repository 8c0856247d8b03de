-- Put before every dispatch script (not a script of its own): the reply they
-- all answer, {tag, extra, HGETALL of the hash it is about...}.
--
-- tag    what happened (each script lists its own)
-- key    the hash to return after the step (an order or a provider)
-- extra  script-specific, '' when absent
local function reply(tag, key, extra)
  local r = redis.call('HGETALL', key)
  table.insert(r, 1, extra or '')
  table.insert(r, 1, tag)
  return r
end
