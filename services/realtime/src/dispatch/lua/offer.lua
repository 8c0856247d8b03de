-- Offers a searching order to the nearest candidate that is available and has
-- not had it yet: provider and order change together or not at all, so two
-- replicas racing for one provider cannot both win.
--
-- KEYS[1]     order hash
-- KEYS[2]     set of the providers that already had an offer for the order
-- KEYS[3]     GEO set of online providers
-- KEYS[4...]  provider hashes of the candidates, nearest first
-- ARGV[1]     orderId
-- ARGV[2]     now (ms)
-- ARGV[3]     offer expiry (ms since the epoch)
-- ARGV[4]     order TTL (ms)
-- ARGV[5]     expected attempt (the order's attempt when the caller read it)
-- ARGV[6]     exhausted: '1' when the candidates are every provider in the radius
-- ARGV[7...]  candidate ids, in the order of KEYS[4...]
--
-- Replies {tag, '', order hash...} (reply.lua), tag:
--   offered     offered to a candidate (the order's providerId)
--   unassigned  nobody in the radius is left to try
--   more        every candidate of this page was busy or tried: ask for more
--   retry       the order's attempt moved since the caller read it
--   skip        the order is not searching (any more)
if redis.call('HGET', KEYS[1], 'status') ~= 'searching' then return reply('skip', KEYS[1]) end
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[5] then return reply('retry', KEYS[1]) end
local customer = redis.call('HGET', KEYS[1], 'customerId')
for i = 4, #KEYS do
  local id = ARGV[i + 3]
  if id ~= customer and redis.call('SISMEMBER', KEYS[2], id) == 0 then
    local ps = redis.call('HGET', KEYS[i], 'status')
    if not ps then
      -- the provider's record expired (its replica died): drop the stale index entry
      redis.call('ZREM', KEYS[3], id)
    elseif ps == 'available' then
      redis.call('HSET', KEYS[i], 'status', 'offered', 'orderId', ARGV[1], 'updatedAt', ARGV[2])
      redis.call('HSET', KEYS[1], 'status', 'offered', 'providerId', id, 'attempt', tonumber(ARGV[5]) + 1, 'offerExpiresAt', ARGV[3], 'updatedAt', ARGV[2])
      redis.call('SADD', KEYS[2], id)
      redis.call('PEXPIRE', KEYS[1], ARGV[4])
      redis.call('PEXPIRE', KEYS[2], ARGV[4])
      return reply('offered', KEYS[1])
    end
  end
end
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[1], 'status', 'unassigned', 'providerId', '', 'offerExpiresAt', '', 'updatedAt', ARGV[2])
  return reply('unassigned', KEYS[1])
end
return reply('more', KEYS[1])
