import { randomUUID } from 'node:crypto';
import type { Keyspace } from '../infra/keys';
import { luaScript, type RunnerOf } from '../infra/lua-scripts';
import type { Metrics } from '../infra/metrics';
import type { RedisConnections } from '../infra/redis';

export interface CacheOptions {
  ttlMs: number;
  /** Tags to invalidate this entry by (e.g. "room:lobby"). */
  tags?: string[];
}

export interface CacheStats {
  hits: number;
  misses: number;
  keys: number;
}

const RELEASE_LOCK = luaScript<[lock: string], [token: string], 0 | 1>('cache', 'release-lock', 1);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A Redis cache shared by every replica, JSON values.
 *
 * - getOrSet computes a missing value once across the cluster: requests on
 *   one replica share a promise, and replicas race for a short lock; losers
 *   wait for the winner's value instead of hitting the source (no stampede).
 * - Tags: each tag is a set of the keys stored under it; invalidate(tag)
 *   deletes them. Keys are deleted one by one, never in a cross-slot command.
 * - While Redis is down every call falls through to the source.
 *
 * Keys: cache:{<key>} (value), cache:{<key>}:lock, cache:tag:{<tag>} (set),
 * cache:tagver:{<tag>} (bumped on invalidation),
 * cache:index (zset key -> expiry, for the key count), cache:stats (hash).
 */
export class Cache {
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly releaseLock: RunnerOf<typeof RELEASE_LOCK>;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly metrics: Metrics,
    private readonly lockMs = 5000,
  ) {
    this.releaseLock = RELEASE_LOCK.on(redis.command);
  }

  async get<T>(key: string): Promise<T | undefined> {
    if (!this.redis.isUp()) return undefined;
    const raw = await this.redis.orLocal('cache.get', () => this.redis.command.get(this.valueKey(key)), () => undefined);
    if (raw === undefined) return undefined;
    this.count(raw !== null);
    return raw === null ? undefined : (JSON.parse(raw) as T);
  }

  async set<T>(key: string, value: T, opts: CacheOptions): Promise<void> {
    if (!this.redis.isUp()) return;
    // A cache that cannot write is only a slower cache.
    await this.redis.orLocal('cache.set', () => this.write(key, value, opts), () => undefined);
  }

  async mget<T>(keys: string[]): Promise<Array<T | undefined>> {
    if (keys.length === 0) return [];
    if (!this.redis.isUp()) return keys.map(() => undefined);
    // One GET per key in a batch: MGET would be a cross-slot command on a cluster.
    const p = this.redis.batch();
    for (const k of keys) p.get(this.valueKey(k));
    const res = await this.redis.orLocal('cache.get', () => p.exec(), () => null);
    if (!res) return keys.map(() => undefined);
    return res.map(([err, raw]) => {
      const hit = !err && raw !== null;
      this.count(hit);
      return hit ? (JSON.parse(raw as string) as T) : undefined;
    });
  }

  async mset<T>(entries: Array<{ key: string; value: T }>, opts: CacheOptions): Promise<void> {
    if (!this.redis.isUp()) return;
    await this.redis.orLocal('cache.set', () => Promise.all(entries.map((e) => this.write(e.key, e.value, opts))), () => []);
  }

  /** The cached value, or compute it once (cluster-wide) and cache it. */
  async getOrSet<T>(key: string, compute: () => Promise<T>, opts: CacheOptions): Promise<T> {
    const pending = this.inFlight.get(key);
    if (pending) return pending as Promise<T>;
    const p = this.fetchOrCompute(key, compute, opts).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  async invalidate(tag: string): Promise<number> {
    if (!this.redis.isUp()) return 0;
    return this.redis.orLocal(
      'cache.invalidate',
      async () => {
        const tagKey = this.tagKey(tag);
        // Bump the tag's version first (a computation that started before this
        // invalidation sees the change and does not store its stale result), and
        // read the tag's keys in the same round trip: this runs on every message.
        const [[versionErr], [membersErr, found]] = ((await this.redis.command.pipeline().incr(this.tagVersionKey(tag)).smembers(tagKey).exec()) ??
          []) as Array<[Error | null, unknown]>;
        if (versionErr || membersErr) throw versionErr ?? membersErr;
        const members = found as string[];
        if (members.length === 0) return 0;
        const p = this.redis.batch();
        for (const k of members) {
          p.del(this.valueKey(k));
          p.zrem(this.indexKey(), k);
        }
        p.del(tagKey);
        await p.exec();
        return members.length;
      },
      () => 0,
    );
  }

  async delete(key: string): Promise<void> {
    await this.redis.orLocal('cache.delete', () => this.redis.command.del(this.valueKey(key)), () => 0);
  }

  async stats(): Promise<CacheStats> {
    const [[, counters], , [, keys]] = ((await this.redis
      .batch()
      .hgetall(this.keys.plain('cache', 'stats'))
      .zremrangebyscore(this.indexKey(), '-inf', Date.now())
      .zcard(this.indexKey())
      .exec()) ?? []) as Array<[Error | null, unknown]>;
    const c = (counters ?? {}) as Record<string, string>;
    return { hits: Number(c.hits ?? 0), misses: Number(c.misses ?? 0), keys: Number(keys ?? 0) };
  }

  private async fetchOrCompute<T>(key: string, compute: () => Promise<T>, opts: CacheOptions): Promise<T> {
    if (!this.redis.isUp()) return compute();
    const deadline = Date.now() + this.lockMs;
    return this.redis.orLocal(
      'cache.get-or-set',
      async () => {
        for (;;) {
          const cached = await this.get<T>(key);
          if (cached !== undefined) return cached;
          const token = randomUUID();
          const lockKey = this.valueKey(key) + ':lock';
          if ((await this.redis.command.set(lockKey, token, 'PX', this.lockMs, 'NX')) === 'OK') {
            try {
              const before = await this.tagVersions(opts.tags);
              const value = await compute();
              if ((await this.tagVersions(opts.tags)) === before) await this.write(key, value, opts);
              return value;
            } finally {
              // Redis away: the lock expires by itself (PX lockMs).
              await this.redis.orLocal('cache.unlock', () => this.releaseLock([lockKey], [token]), () => 0);
            }
          }
          // Another replica is computing it: wait for its value.
          if (Date.now() > deadline) return compute();
          await sleep(20);
        }
      },
      // Redis away: straight to the source.
      () => compute(),
    );
  }

  private async write<T>(key: string, value: T, opts: CacheOptions): Promise<void> {
    const expiresAt = Date.now() + opts.ttlMs;
    const p = this.redis.batch();
    p.set(this.valueKey(key), JSON.stringify(value), 'PX', opts.ttlMs);
    p.zadd(this.indexKey(), expiresAt, key);
    for (const tag of opts.tags ?? []) {
      p.sadd(this.tagKey(tag), key);
      // The tag set lives as long as its longest-lived key.
      p.pexpireat(this.tagKey(tag), expiresAt, 'NX');
      p.pexpireat(this.tagKey(tag), expiresAt, 'GT');
    }
    await p.exec();
  }

  private async tagVersions(tags: string[] = []): Promise<string> {
    if (tags.length === 0) return '';
    const p = this.redis.batch();
    for (const t of tags) p.get(this.tagVersionKey(t));
    const res = (await p.exec()) ?? [];
    return res.map(([, v]) => String(v ?? 0)).join(',');
  }

  private tagVersionKey(tag: string): string {
    return this.keys.plain(`cache:tagver:{${tag}}`);
  }

  private count(hit: boolean): void {
    this.metrics.cacheLookups.inc({ result: hit ? 'hit' : 'miss' });
    // Not awaited: the shared counters are best effort (sb_cache_lookups_total counts every lookup).
    void this.redis.orLocal('cache.stats', () => this.redis.command.hincrby(this.keys.plain('cache', 'stats'), hit ? 'hits' : 'misses', 1), () => 0);
  }

  private valueKey(key: string): string {
    return this.keys.plain(`cache:{${key}}`);
  }

  private tagKey(tag: string): string {
    return this.keys.plain(`cache:tag:{${tag}}`);
  }

  private indexKey(): string {
    return this.keys.plain('cache', 'index');
  }
}
