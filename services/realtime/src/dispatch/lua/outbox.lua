-- Put before every dispatch script, after reply.lua (not a script of its own):
-- the restore gate and the outbox every step shares.
--
-- KEYS[1] of every dispatch script is the zone's epoch key, KEYS[2] its outbox
-- stream. The epoch key is written once the zone's orders are in Redis (after
-- a restore from MongoDB, which on a first start finds nothing); while it is
-- missing (Redis lost its data) every step answers {'restoring', ''} and
-- changes nothing, so no step acts on an order that is not restored yet.
--
-- restoring()
--     true while the epoch key is missing
-- record(order, tried, step, from, provider)
--     the order changed: bumps its seq, appends the transition to the outbox
--     (the order after the step, its tried set, the step, the status before,
--     the provider concerned: '' for the order's providerId) in this same
--     atomic call, and sets the order's expiry (keep)
-- keep(order, tried)
--     searching, offered and assigned orders never expire; any other expires
--     ORDER_TTL_MS after this change (MongoDB keeps it for good)
local ORDER_TTL_MS = 86400000
local ACTIVE = { searching = true, offered = true, assigned = true }

local function restoring()
  return redis.call('EXISTS', KEYS[1]) == 0
end

local function keep(order, tried)
  if ACTIVE[redis.call('HGET', order, 'status')] then
    redis.call('PERSIST', order)
    redis.call('PERSIST', tried)
  else
    redis.call('PEXPIRE', order, ORDER_TTL_MS)
    redis.call('PEXPIRE', tried, ORDER_TTL_MS)
  end
end

local function record(order, tried, step, from, provider)
  redis.call('HINCRBY', order, 'seq', 1)
  local h = redis.call('HGETALL', order)
  local o = {}
  for i = 1, #h, 2 do o[h[i]] = h[i + 1] end
  if provider == nil or provider == '' then provider = o.providerId or '' end
  -- cjson writes an empty set as {} (the reader takes anything but a list as none)
  local tried_ids = cjson.encode(redis.call('SMEMBERS', tried))
  redis.call('XADD', KEYS[2], '*', 'order', cjson.encode(o), 'tried', tried_ids, 'step', step, 'from', from or '', 'provider', provider)
  keep(order, tried)
end
