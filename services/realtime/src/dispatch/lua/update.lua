-- The customer moves the pickup or changes the radius. An unassigned order
-- searches again (next attempt), skipping providers that already had it.
--
-- KEYS[1]  epoch key (outbox.lua)
-- KEYS[2]  outbox stream
-- KEYS[3]  order hash
-- KEYS[4]  order's tried set
-- ARGV[1]  customerId
-- ARGV[2]  lat ('' = unchanged, with ARGV[3])
-- ARGV[3]  lng
-- ARGV[4]  radiusKm ('' = unchanged)
-- ARGV[5]  now (ms)
--
-- Replies (reply.lua), extra = the status before:
--   updated    {'updated', status before, order hash...}
--   research   {'research', 'unassigned', order hash...}: back to searching
--   final      {'final', status before, order hash...}: cancelled or completed
--   forbidden  {'forbidden', '', order hash...}: not this customer's order
--   missing    {'missing', ''}: no such order
--   restoring  {'restoring', ''}: Redis lost its data, the restore has not finished
if restoring() then return {'restoring', ''} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[3], 'customerId') ~= ARGV[1] then return reply('forbidden', KEYS[3]) end
local st = redis.call('HGET', KEYS[3], 'status')
if st == 'cancelled' or st == 'completed' then return reply('final', KEYS[3], st) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[3], 'lat', ARGV[2], 'lng', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], 'radiusKm', ARGV[4]) end
redis.call('HSET', KEYS[3], 'updatedAt', ARGV[5])
if st == 'unassigned' then
  redis.call('HSET', KEYS[3], 'status', 'searching', 'attempt', tonumber(redis.call('HGET', KEYS[3], 'attempt')) + 1)
  record(KEYS[3], KEYS[4], 'update', st, '')
  return reply('research', KEYS[3], st)
end
record(KEYS[3], KEYS[4], 'update', st, '')
return reply('updated', KEYS[3], st)
