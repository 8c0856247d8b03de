-- Offers a searching order to the nearest candidate that is available and has
-- not had it yet: provider and order change together or not at all, so two
-- replicas racing for one provider cannot both win.
--
-- KEYS[1]     epoch key (outbox.lua)
-- KEYS[2]     outbox stream
-- KEYS[3]     order hash
-- KEYS[4]     set of the providers that already had an offer for the order
-- KEYS[5]     GEO set of online providers
-- KEYS[6...]  provider hashes of the candidates, nearest first
-- ARGV[1]     orderId
-- ARGV[2]     now (ms)
-- ARGV[3]     offer expiry (ms since the epoch)
-- ARGV[4]     expected attempt (the order's attempt when the caller read it)
-- ARGV[5]     exhausted: '1' when the candidates are every provider in the radius
-- ARGV[6...]  candidate ids, in the order of KEYS[6...]
--
-- Replies {tag, '', order hash...} (reply.lua), tag:
--   offered     offered to a candidate (the order's providerId)
--   unassigned  nobody in the radius is left to try
--   more        every candidate of this page was busy or tried: ask for more
--   retry       the order's attempt moved since the caller read it
--   skip        the order is not searching (any more)
--   restoring   {'restoring', ''}: Redis lost its data, the restore has not finished
if restoring() then return {'restoring', ''} end
if redis.call('HGET', KEYS[3], 'status') ~= 'searching' then return reply('skip', KEYS[3]) end
if redis.call('HGET', KEYS[3], 'attempt') ~= ARGV[4] then return reply('retry', KEYS[3]) end
local customer = redis.call('HGET', KEYS[3], 'customerId')
for i = 6, #KEYS do
  local id = ARGV[i]
  if id ~= customer and redis.call('SISMEMBER', KEYS[4], id) == 0 then
    local ps = redis.call('HGET', KEYS[i], 'status')
    if not ps then
      -- the provider's record expired (its replica died): drop the stale index entry
      redis.call('ZREM', KEYS[5], id)
    elseif ps == 'available' then
      redis.call('HSET', KEYS[i], 'status', 'offered', 'orderId', ARGV[1], 'updatedAt', ARGV[2])
      redis.call('HSET', KEYS[3], 'status', 'offered', 'providerId', id, 'attempt', tonumber(ARGV[4]) + 1, 'offerExpiresAt', ARGV[3], 'updatedAt', ARGV[2])
      redis.call('SADD', KEYS[4], id)
      record(KEYS[3], KEYS[4], 'offer', 'searching', id)
      return reply('offered', KEYS[3])
    end
  end
end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[3], 'status', 'unassigned', 'providerId', '', 'offerExpiresAt', '', 'updatedAt', ARGV[2])
  record(KEYS[3], KEYS[4], 'offer', 'searching', '')
  return reply('unassigned', KEYS[3])
end
return reply('more', KEYS[3])
