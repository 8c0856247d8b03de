import pino from 'pino';
import { Cache } from '../../src/cache';
import { Keyspace } from '../../src/infra/keys';
import { createMetrics } from '../../src/infra/metrics';
import { RedisConnections } from '../../src/infra/redis';
import { serviceTopology, startRedisServer } from '../support/cluster';
import { sleep } from '../support/processes';

/** Three Cache instances with their own connections stand for three replicas on one real Redis. */
describe('cache shared by replicas', () => {
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  let conns: RedisConnections[];
  let caches: Cache[];

  beforeAll(async () => {
    redis = await startRedisServer();
    const log = pino({ level: 'silent' });
    conns = [0, 1, 2].map((i) => new RedisConnections(redis.topology, log, createMetrics(`r${i}`)));
    await Promise.all(conns.map((c) => c.waitUntilUp(10_000)));
    caches = conns.map((c, i) => new Cache(c, new Keyspace('sb:'), createMetrics(`c${i}`)));
  });

  afterAll(async () => {
    await Promise.all((conns ?? []).map((c) => c.close()));
    await redis?.stop();
  });

  it('stores with a TTL, and batches reads and writes', async () => {
    const [c] = caches;
    await c.set('a', { n: 1 }, { ttlMs: 1500 }); // long enough to be read back on a loaded machine
    expect(await c.get('a')).toEqual({ n: 1 });
    await c.mset<number | string>([{ key: 'b', value: 2 }, { key: 'c', value: 'three' }], { ttlMs: 10_000 });
    expect(await c.mget(['a', 'b', 'c', 'missing'])).toEqual([{ n: 1 }, 2, 'three', undefined]);
    await sleep(1600);
    expect(await c.get('a')).toBeUndefined();
  });

  it('computes a missing value once when 30 requests on three replicas miss together', async () => {
    let computed = 0;
    const compute = async () => {
      computed++;
      await sleep(200); // a slow source makes the race real
      return { page: ['m1', 'm2'] };
    };
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => caches[i % 3].getOrSet('hot', compute, { ttlMs: 10_000, tags: ['room:hot'] })),
    );
    expect(computed).toBe(1);
    for (const r of results) expect(r).toEqual({ page: ['m1', 'm2'] });
  });

  it('invalidates every key under a tag, and never stores a value computed across an invalidation', async () => {
    const [c1, c2] = caches;
    await c1.set('page:1', 'one', { ttlMs: 10_000, tags: ['room:lobby'] });
    await c1.set('page:2', 'two', { ttlMs: 10_000, tags: ['room:lobby', 'other'] });
    await c1.set('unrelated', 'x', { ttlMs: 10_000, tags: ['room:elsewhere'] });
    expect(await c2.invalidate('room:lobby')).toBe(2);
    expect(await c2.mget(['page:1', 'page:2', 'unrelated'])).toEqual([undefined, undefined, 'x']);

    // A computation that started before an invalidation returns its value but does not cache it.
    // The computation is held until the invalidation is done, however slow the machine.
    let computing!: () => void;
    const started = new Promise<void>((resolve) => (computing = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slow = c1.getOrSet('page:3', async () => {
      computing();
      await released;
      return 'stale';
    }, { ttlMs: 10_000, tags: ['room:lobby'] });
    await started;
    await c2.invalidate('room:lobby');
    release();
    expect(await slow).toBe('stale');
    expect(await c1.get('page:3')).toBeUndefined();
  });

  it('counts hits, misses and keys', async () => {
    const before = await caches[0].stats();
    await caches[0].set('counted', 1, { ttlMs: 10_000 });
    await caches[1].get('counted');
    await caches[2].get('not-there');
    await sleep(50);
    const after = await caches[0].stats();
    expect(after.hits - before.hits).toBe(1);
    expect(after.misses - before.misses).toBe(1);
    expect(after.keys).toBeGreaterThanOrEqual(1);
  });

  it('falls through to the source while Redis is down', async () => {
    const down = new RedisConnections(serviceTopology({ REDIS_MODE: 'single', REDIS_URL: 'redis://127.0.0.1:1' }), pino({ level: 'silent' }), createMetrics('down'));
    const cache = new Cache(down, new Keyspace('sb:'), createMetrics('down-c'));
    let calls = 0;
    const value = await cache.getOrSet('k', async () => ++calls, { ttlMs: 1000 });
    expect(value).toBe(1);
    expect(await cache.getOrSet('k', async () => ++calls, { ttlMs: 1000 })).toBe(2);
    expect(await cache.get('k')).toBeUndefined();
    await down.close();
  });
});
