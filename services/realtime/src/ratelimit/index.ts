import type { Redis } from 'ioredis';
import { AppError } from '../infra/errors';
import type { Keyspace } from '../infra/keys';
import type { Metrics } from '../infra/metrics';
import type { RedisConnections } from '../infra/redis';
import type { Limit } from './limit';

export { parseLimit, type Limit } from './limit';

export type LimitClass = 'messages' | 'joins' | 'logins' | 'http' | 'events';

export interface Decision {
  allowed: boolean;
  retryAfterMs: number;
  /** Where the decision was made: Redis (cluster-wide) or this replica's memory (Redis down). */
  backend: 'redis' | 'memory';
}

// Sliding-window log in one sorted set, checked and recorded atomically, on
// Redis's clock so every replica agrees on time. Returns {allowed, retryAfterMs}.
const SLIDING_WINDOW = `
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
`;

/**
 * Sliding-window rate limits per class and subject (user id or IP), shared by
 * every replica through Redis. While Redis is down each replica falls back to
 * the same algorithm in its own memory (so limits then apply per replica).
 *
 * Key: {rl:<class>:<subject>} zset of hit timestamps.
 */
export class RateLimiter {
  private readonly memory = new Map<string, number[]>();
  private seq = 0;
  private lastBackend: 'redis' | 'memory' = 'redis';

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly limits: Record<LimitClass, Limit>,
    private readonly metrics: Metrics,
  ) {
    redis.command.defineCommand('sbSlidingWindow', { numberOfKeys: 1, lua: SLIDING_WINDOW });
    setInterval(() => this.pruneMemory(), 60_000).unref();
  }

  /** Which backend answered last: shown in /health. */
  get backend(): 'redis' | 'memory' {
    return this.redis.isUp() ? this.lastBackend : 'memory';
  }

  async check(cls: LimitClass, subject: string): Promise<Decision> {
    const { limit, windowMs } = this.limits[cls];
    const key = this.keys.tagged('rl', `${cls}:${subject}`);
    let decision: Decision;
    // Per-socket event floods are local by nature (a socket lives on one replica).
    if (cls === 'events') {
      decision = this.checkMemory(key, limit, windowMs);
    } else if (this.redis.isUp()) {
      try {
        const cmd = this.redis.command as Redis & { sbSlidingWindow(key: string, window: number, limit: number, id: string): Promise<[number, number]> };
        const [allowed, retryAfterMs] = await cmd.sbSlidingWindow(key, windowMs, limit, `${process.pid}-${++this.seq}`);
        decision = { allowed: allowed === 1, retryAfterMs: Number(retryAfterMs), backend: 'redis' };
      } catch {
        decision = this.checkMemory(key, limit, windowMs);
      }
    } else {
      decision = this.checkMemory(key, limit, windowMs);
    }
    if (cls !== 'events') this.lastBackend = decision.backend;
    if (!decision.allowed) this.metrics.rateLimited.inc({ class: cls, backend: decision.backend });
    return decision;
  }

  /** Throws RATE_LIMITED (with retryAfterMs) when the subject is over its limit. */
  async enforce(cls: LimitClass, subject: string): Promise<void> {
    const d = await this.check(cls, subject);
    if (!d.allowed) throw new AppError('RATE_LIMITED', `too many ${cls}, retry in ${d.retryAfterMs} ms`, { retryAfterMs: d.retryAfterMs });
  }

  private checkMemory(key: string, limit: number, windowMs: number): Decision {
    const now = Date.now();
    const hits = (this.memory.get(key) ?? []).filter((t) => t > now - windowMs);
    if (hits.length < limit) {
      hits.push(now);
      this.memory.set(key, hits);
      return { allowed: true, retryAfterMs: 0, backend: 'memory' };
    }
    this.memory.set(key, hits);
    return { allowed: false, retryAfterMs: Math.max(1, hits[0] + windowMs - now), backend: 'memory' };
  }

  private pruneMemory(): void {
    const now = Date.now();
    const longest = Math.max(...Object.values(this.limits).map((l) => l.windowMs));
    for (const [key, hits] of this.memory) if (!hits.some((t) => t > now - longest)) this.memory.delete(key);
  }
}
