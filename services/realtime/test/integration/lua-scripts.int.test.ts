import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { luaScript } from '../../src/infra/lua-scripts';
import { topologyFromEnv, type RedisTopology } from '../support/redis-topology';

const RELEASE_LOCK = luaScript<[lock: string], [token: string], 0 | 1>('cache', 'release-lock', 1);

/** The scripts' runner on the topology of this pass (SB_TEST_REDIS), auto-pipelined like the service's clients. */
describe('Lua script runner', () => {
  let redis: RedisTopology;
  let client: Redis | Cluster;

  beforeAll(async () => {
    redis = await topologyFromEnv();
    client = redis.client();
    client.options.enableAutoPipelining = true;
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  const primaries = async () => (redis.kind === 'cluster' ? (client as Cluster).nodes('master') : [client as Redis]);

  it('runs on the primary of each key, calls for many slots sent in one tick', async () => {
    const release = RELEASE_LOCK.on(client);
    const locks = Array.from({ length: 40 }, (_, i) => `lua-test:lock:${i}`);
    await Promise.all(locks.map((key) => client.set(key, `token-${key}`)));
    const replies = await Promise.all(locks.map((key) => release([key], [`token-${key}`])));
    expect(replies).toEqual(locks.map(() => 1));
    expect(await Promise.all(locks.map((key) => client.exists(key)))).toEqual(locks.map(() => 0));
    expect(await release(['lua-test:lock:0'], ['not-ours'])).toBe(0);
  });

  it('runs again after Redis forgot its scripts (SCRIPT FLUSH)', async () => {
    const release = RELEASE_LOCK.on(client);
    await client.set('lua-test:flushed', 'mine');
    for (const node of await primaries()) await node.script('FLUSH');
    expect(await release(['lua-test:flushed'], ['mine'])).toBe(1);
    // The EVAL that answered NOSCRIPT cached it again: later calls are EVALSHA.
    const sha = createHash('sha1').update(RELEASE_LOCK.lua).digest('hex');
    const cached = await Promise.all((await primaries()).map((node) => node.script('EXISTS', sha) as Promise<number[]>));
    expect(cached.filter(([known]) => known === 1)).toHaveLength(1);
  });

  it("adds nothing to the client's pipelines (auto-pipelining makes one per burst)", async () => {
    const bare = Object.keys(client.pipeline()).length;
    for (let i = 0; i < 30; i++) RELEASE_LOCK.on(client);
    expect(Object.keys(client.pipeline()).length).toBe(bare);
  });

  it('refuses a call with the wrong number of keys', async () => {
    const release = RELEASE_LOCK.on(client) as unknown as (keys: string[], argv: string[]) => Promise<unknown>;
    await expect(release(['a', 'b'], ['t'])).rejects.toThrow('cache/lua/release-lock.lua takes 1 keys, given 2');
  });
});
