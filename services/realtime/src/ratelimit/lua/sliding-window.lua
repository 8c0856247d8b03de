-- Sliding-window log in one sorted set, checked and recorded atomically, on
-- Redis's clock so every replica agrees on time.
--
-- KEYS[1]  sorted set of hits, scored by time (ms)
-- ARGV[1]  window (ms)
-- ARGV[2]  hits allowed per window
-- ARGV[3]  unique id of this hit (two hits in one millisecond stay two members)
--
-- Replies {allowed, retryAfterMs}:
--   {1, 0}             allowed, and recorded
--   {0, retryAfterMs}  over the limit: when the oldest hit leaves the window (>= 1)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(oldest[2]) + window - now)}
