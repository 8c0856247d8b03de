-- Puts one order read from MongoDB back into Redis, while the zone restores
-- after Redis lost its data (the epoch key is missing). The order's provider
-- gets its status back (offered, or busy with an assigned order) in a record
-- that lives one provider TTL: the replica holding the provider's socket
-- announces it again with its location; if none does, it expires.
--
-- KEYS[1]     epoch key (outbox.lua)
-- KEYS[2]     outbox stream
-- KEYS[3]     order hash
-- KEYS[4]     order's tried set
-- KEYS[5]     provider hash of the order's providerId (any key of the same
--             slot when there is none)
-- ARGV[1]     now (ms)
-- ARGV[2]     provider TTL (ms)
-- ARGV[3]     the tried set as a JSON list of provider ids
-- ARGV[4...]  field, value, field, value... of the order (seq included)
--
-- Replies (reply.lua):
--   restored  {'restored', '', order hash...}: written, with a 'restore' transition in the outbox
--   exists    {'exists', '', order hash...}: already in Redis (an earlier restore), left alone
--   expired   {'expired', ''}: an unassigned order older than its Redis lifetime, left out
--   done      {'done', ''}: the restore has finished (the epoch key is back), nothing written
if not restoring() then return {'done', ''} end
if redis.call('EXISTS', KEYS[3]) == 1 then return reply('exists', KEYS[3]) end
redis.call('HSET', KEYS[3], unpack(ARGV, 4))
local st = redis.call('HGET', KEYS[3], 'status')
local left = tonumber(redis.call('HGET', KEYS[3], 'updatedAt')) + ORDER_TTL_MS - tonumber(ARGV[1])
if st == 'unassigned' and left <= 0 then
  redis.call('DEL', KEYS[3])
  return {'expired', ''}
end
for _, id in ipairs(cjson.decode(ARGV[3])) do redis.call('SADD', KEYS[4], id) end
local provider = redis.call('HGET', KEYS[3], 'providerId') or ''
if provider ~= '' and (st == 'offered' or st == 'assigned') then
  local order = redis.call('HGET', KEYS[3], 'id')
  redis.call('HSET', KEYS[5], 'userId', provider, 'status', st == 'offered' and 'offered' or 'busy', 'orderId', order, 'updatedAt', ARGV[1])
  redis.call('PEXPIRE', KEYS[5], ARGV[2])
end
record(KEYS[3], KEYS[4], 'restore', st, '')
if st == 'unassigned' then
  redis.call('PEXPIRE', KEYS[3], left)
  redis.call('PEXPIRE', KEYS[4], left)
end
return reply('restored', KEYS[3])
