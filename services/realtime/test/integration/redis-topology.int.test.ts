import { startRedisTopology, type RedisTopology, type TopologyKind } from '../support/redis-topology';
import { waitFor } from '../support/processes';

/**
 * The test topologies themselves: each starts, serves a write and a read
 * through the client the service would use, and survives the SIGKILL of the
 * primary holding a key (a replica is promoted, the client follows it).
 */
const FAILOVER_TIMEOUT_MS = 60_000;
/** Independent of SB_TEST_REDIS: `make test-failover` runs it once (SB_TEST_FAILOVER=1), test-int skips it. */
const describeTopology = process.env.SB_TEST_FAILOVER === '1' ? describe : describe.skip;

describeTopology.each<TopologyKind>(['single', 'cluster', 'sentinel'])('%s Redis topology', (kind) => {
  let topology: RedisTopology | undefined;

  afterEach(async () => {
    await topology?.stop();
    topology = undefined;
  });

  it('starts, describes itself for the service and serves writes and reads', async () => {
    topology = await startRedisTopology(kind);
    expect(topology.env.REDIS_MODE).toBe(kind);
    const expectedKeys = { single: ['REDIS_URL'], cluster: ['REDIS_CLUSTER_NODES'], sentinel: ['REDIS_SENTINELS', 'REDIS_SENTINEL_NAME'] }[kind];
    for (const key of expectedKeys) expect(topology.env[key]).toBeTruthy();
    const roles = await Promise.all(topology.nodes.map((n) => n.role()));
    const count = (role: string) => roles.filter((r) => r === role).length;
    expect({ master: count('master'), replica: count('replica'), sentinel: count('sentinel') }).toEqual(
      { single: { master: 1, replica: 0, sentinel: 0 }, cluster: { master: 3, replica: 3, sentinel: 0 }, sentinel: { master: 1, replica: 1, sentinel: 3 } }[kind],
    );

    const client = topology.client();
    try {
      // Keys in different slots, so a cluster spreads them over its primaries.
      for (const key of ['alpha', 'beta', 'gamma']) await client.set(`topology:${key}`, key);
      for (const key of ['alpha', 'beta', 'gamma']) expect(await client.get(`topology:${key}`)).toBe(key);
      expect(await (await topology.primaryForKey('topology:alpha')).role()).toBe('master');
    } finally {
      client.disconnect();
    }
  });

  if (kind === 'single') return;

  it('replaces a SIGKILLed primary with its replica, and the client follows', async () => {
    topology = await startRedisTopology(kind);
    const client = topology.client();
    try {
      // Wait until the write reached the replica, so the promoted replica has it. WAIT counts the
      // replicas that have this connection's writes, on the node it runs on; it takes no key, so a
      // Cluster client alone would send it to any node: in one pipeline with the write it runs on
      // the key's primary.
      await waitFor(
        'replica caught up',
        async () => {
          const replies = await client.pipeline().set('topology:victim', 'before').call('WAIT', '1', '1000').exec();
          return Number(replies?.[1]?.[1]) >= 1;
        },
        10_000,
      );
      const primary = await topology.primaryForKey('topology:victim');
      const killedAt = Date.now();
      await primary.kill('SIGKILL');

      const successor = await waitFor('a new primary', async () => {
        const now = await topology!.primaryForKey('topology:victim').catch(() => undefined);
        return now && now !== primary && (await now.role()) === 'master' ? now : undefined;
      }, FAILOVER_TIMEOUT_MS, 200);
      const promotedMs = Date.now() - killedAt;
      // The same client reads the old value and writes through the new primary.
      // Errors are thrown, not swallowed, so a timeout says whether the client kept failing or the key was gone.
      const value = await waitFor(
        'client reads after failover',
        async () => {
          const v = await client.get('topology:victim');
          if (v === null) throw new Error('the key is missing on the new primary');
          return v;
        },
        FAILOVER_TIMEOUT_MS,
        200,
      );
      expect(value).toBe('before');
      await client.set('topology:victim', 'after');
      expect(await client.get('topology:victim')).toBe('after');
      console.log(`[redis-topology] ${kind}: ${successor.name} promoted ${promotedMs} ms after SIGKILL of ${primary.name}`);

      // The old primary comes back as a replica and the topology is whole again.
      await primary.start();
      await topology.waitHealthy();
      expect(await primary.role()).toBe('replica');
    } finally {
      client.disconnect();
    }
  });
});
