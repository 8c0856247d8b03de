import { Cluster } from 'ioredis';
import { stopSlotsRefreshOnClose } from '../../src/infra/ioredis-slots-timer';
import { startRedisTopology, type RedisTopology } from '../support/redis-topology';
import { waitFor } from '../support/processes';

/** What the test reads of ioredis' Cluster besides its public API. */
interface Internals {
  slotsTimer: NodeJS.Timeout | null;
  isRefreshing: boolean;
  getInfoFromNode(node: unknown, callback: (err?: Error) => void): void;
  refreshSlotsCache(callback?: (err?: Error) => void): void;
}

/**
 * The timer behind ioredis-slots-timer.ts: a periodic slot-map refresh in
 * flight when the client quits arms a new refresh timer that nothing clears,
 * which kept a finished Jest run alive after the Redis Cluster pass. The
 * refresh is held in flight by delaying the node's answer to it.
 */
describe('ioredis cluster closed during a periodic slot-map refresh', () => {
  let redis: RedisTopology;

  beforeAll(async () => {
    redis = await startRedisTopology('cluster');
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('arms no refresh timer after quit', async () => {
    expect(stopSlotsRefreshOnClose()).toBe(true);
    const port = Number(redis.env.REDIS_CLUSTER_NODES.split(',')[0].split(':')[1]);
    const cluster = new Cluster([{ host: '127.0.0.1', port }], { slotsRefreshInterval: 50, lazyConnect: true });
    cluster.on('error', () => undefined);
    const internals = cluster as unknown as Internals;
    await cluster.connect();
    // Hold every refresh's answer for 300 ms, so quit() lands while one is in flight.
    const getInfo = internals.getInfoFromNode.bind(cluster);
    internals.getInfoFromNode = (node, callback) => getInfo(node, (err) => setTimeout(() => callback(err), 300));
    await waitFor('a periodic refresh in flight', () => internals.isRefreshing, 10_000, 5);
    await cluster.quit();
    // The held refresh answers after the quit; unpatched, its callback arms the next round here.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const armed = internals.slotsTimer !== null;
    // Stop an unpatched loop for good before asserting, or it would hold this run open too.
    internals.refreshSlotsCache = () => undefined;
    if (internals.slotsTimer) clearTimeout(internals.slotsTimer);
    expect(armed).toBe(false);
    expect(cluster.status).toBe('end');
  });
});
