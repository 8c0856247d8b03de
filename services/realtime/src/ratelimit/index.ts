import { AppError } from '../infra/errors';
import type { Keyspace } from '../infra/keys';
import { luaScript, type RunnerOf } from '../infra/lua-scripts';
import type { Metrics } from '../infra/metrics';
import type { RedisConnections } from '../infra/redis';
import type { Logger } from '../infra/logger';
import { CREDITS_FLUSH_MS, Credits } from './credits';
import { isUserLimitClass, USER_LIMIT_CLASSES, type Limit, type LimitClass, type UserLimitClass } from './limit';

export {
  ADDRESS_LIMIT_CLASSES,
  isUserLimitClass,
  parseLimit,
  USER_LIMIT_CLASSES,
  type AddressLimitClass,
  type Limit,
  type LimitClass,
  type UserLimitClass,
} from './limit';

export interface Decision {
  allowed: boolean;
  retryAfterMs: number;
  /** Where the decision was made: Redis (cluster-wide) or this replica's memory (Redis down). */
  backend: 'redis' | 'memory';
}

const SLIDING_WINDOW = luaScript<[hits: string], [windowMs: number, limit: number, hitId: string], [allowed: 0 | 1, retryAfterMs: number]>(
  'ratelimit',
  'sliding-window',
  1,
);

/**
 * Sliding-window rate limits per class and subject (user id or IP), shared by
 * every replica through Redis. While Redis is down each replica falls back to
 * the same algorithm in its own memory (so limits then apply per replica).
 * The per-user classes, one of which every socket event is charged to, are
 * decided from credits (credits.ts): a user well under a limit is usually
 * admitted without a round trip, and never more than the limit. The
 * per-address classes (logins, HTTP, handshakes) ask Redis each time.
 *
 * Key: {rl:<class>:<subject>} zset of hit timestamps (and, for user classes, credits).
 */
export class RateLimiter {
  private readonly memory = new Map<string, number[]>();
  private seq = 0;
  private lastBackend: 'redis' | 'memory' = 'redis';
  private readonly slidingWindow: RunnerOf<typeof SLIDING_WINDOW>;
  private readonly credits: Record<UserLimitClass, Credits>;
  private readonly timers: NodeJS.Timeout[];

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly limits: Record<LimitClass, Limit>,
    private readonly metrics: Metrics,
    log?: Logger,
  ) {
    this.slidingWindow = SLIDING_WINDOW.on(redis.command);
    const credit = (limit: Limit) => new Credits(redis.command, redis.background, limit, (key) => this.checkMemory(key, limit.limit, limit.windowMs));
    this.credits = Object.fromEntries(USER_LIMIT_CLASSES.map((cls) => [cls, credit(limits[cls])])) as Record<UserLimitClass, Credits>;
    this.timers = [
      setInterval(() => this.pruneMemory(), 60_000),
      setInterval(() => {
        if (!redis.isUp()) return;
        for (const c of Object.values(this.credits)) c.flush().catch((err: unknown) => log?.error({ err }, 'rate-limit credits flush failed'));
      }, CREDITS_FLUSH_MS),
    ];
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
  }

  /** Which backend answered last: shown in /health. */
  get backend(): 'redis' | 'memory' {
    return this.redis.isUp() ? this.lastBackend : 'memory';
  }

  async check(cls: LimitClass, subject: string): Promise<Decision> {
    const { limit, windowMs } = this.limits[cls];
    const key = this.keys.tagged('rl', `${cls}:${subject}`);
    let decision: Decision;
    const started = cls === 'messages' ? performance.now() : 0;
    // Per-socket event floods are local by nature (a socket lives on one replica).
    if (cls === 'events') {
      decision = this.checkMemory(key, limit, windowMs);
    } else if (isUserLimitClass(cls) && this.redis.isUp()) {
      decision = await this.credits[cls].take(key);
    } else if (this.redis.isUp()) {
      decision = await this.redis.orLocal(
        'ratelimit.check',
        async (): Promise<Decision> => {
          const [allowed, retryAfterMs] = await this.slidingWindow([key], [windowMs, limit, `${process.pid}-${++this.seq}`]);
          return { allowed: allowed === 1, retryAfterMs, backend: 'redis' };
        },
        () => this.checkMemory(key, limit, windowMs),
      );
    } else {
      decision = this.checkMemory(key, limit, windowMs);
    }
    if (cls === 'messages') this.metrics.sendStage.observe({ stage: 'limit' }, (performance.now() - started) / 1000);
    if (cls !== 'events') this.lastBackend = decision.backend;
    if (!decision.allowed) this.metrics.rateLimited.inc({ class: cls, backend: decision.backend });
    return decision;
  }

  /** Throws RATE_LIMITED (with retryAfterMs) when the subject is over its limit. */
  async enforce(cls: LimitClass, subject: string): Promise<void> {
    const d = await this.check(cls, subject);
    if (!d.allowed) throw new AppError('RATE_LIMITED', `over the ${cls} limit, retry in ${d.retryAfterMs} ms`, { retryAfterMs: d.retryAfterMs });
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
