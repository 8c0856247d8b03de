-- Credits of a sliding-window limit: hits admitted now, and spares a replica
-- holds to admit a later hit without asking (credits.ts). Everything counts
-- against the limit on Redis's clock, so replicas never admit more than the
-- limit together: a spare counts from its reservation until a window after it
-- may last be used, and once used it counts from its use on.
--
-- KEYS[1]    sorted set of the subject's hits and spares: a member counts
--            until its score plus the window
-- ARGV[1]    window (ms)
-- ARGV[2]    hits allowed per window
-- ARGV[3]    want: hits to admit now (0: only the bookkeeping below)
-- ARGV[4]    spares to reserve, granted only when every wanted hit was
--            admitted and the subject stays at or under half its limit
-- ARGV[5]    how long (ms) a spare may be held before it is used
-- ARGV[6]    prefix unique to this call, for the new members
-- ARGV[7]    n: how many used spares follow
-- ARGV[8...] n used spares (each now counts from now), then spares given back
--            unused (removed)
--
-- Replies {admitted, retryAfterMs, spare...}:
--   admitted      hits admitted now (at most want)
--   retryAfterMs  when fewer than wanted were admitted: when the oldest entry
--                 stops counting (>= 1); 0 otherwise
--   spare         the members of the spares reserved
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = KEYS[1]
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local spares = tonumber(ARGV[4])
local hold = tonumber(ARGV[5])
local used = tonumber(ARGV[7])
for i = 8, 7 + used do redis.call('ZADD', key, now, ARGV[i]) end
for i = 8 + used, #ARGV do redis.call('ZREM', key, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local admitted = math.min(want, math.max(0, limit - count))
for i = 1, admitted do redis.call('ZADD', key, now, ARGV[6] .. ':' .. i) end
count = count + admitted
local reply = { admitted, 0 }
if admitted < want then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  reply[2] = math.max(1, tonumber(oldest[2]) + window - now)
elseif spares > 0 and count + spares <= math.floor(limit / 2) then
  for i = 1, spares do
    local member = ARGV[6] .. ':s' .. i
    redis.call('ZADD', key, now + hold, member)
    reply[#reply + 1] = member
  end
end
if count > 0 then redis.call('PEXPIRE', key, window + hold) end
return reply
