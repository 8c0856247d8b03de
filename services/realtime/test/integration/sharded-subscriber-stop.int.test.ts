import { EventEmitter } from 'node:events';
import net from 'node:net';
import ShardedSubscriber from 'ioredis/built/cluster/ShardedSubscriber';
import { settlePendingStartOnStop } from '../../src/infra/ioredis-sharded-stop';
import { waitFor } from '../support/processes';

/**
 * The wedge behind ioredis-sharded-stop.ts: a sharded subscriber stopped while
 * its connection waits for the node's first answer. A node that accepts the
 * TCP connection and never answers (a real socket, like a Redis that just
 * restarted or a stalled one) holds the connection in that state as long as
 * the test needs.
 */
describe('ioredis sharded subscriber stopped while connecting', () => {
  let server: net.Server;
  let port: number;
  const accepted: net.Socket[] = [];

  beforeAll(async () => {
    server = net.createServer((socket) => void accepted.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    for (const s of accepted) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('settles the pending start, so the subscriber group can build a new subscriber', async () => {
    expect(settlePendingStartOnStop()).toBe(true);
    const sub = new ShardedSubscriber(new EventEmitter(), { host: '127.0.0.1', port }, { connectTimeout: 60_000 });
    const outcome = sub.start().then(
      () => 'connected',
      (err: Error) => `failed: ${err.message}`,
    );
    // TCP is up; ioredis waits for the node's first reply.
    await waitFor('connection accepted', () => accepted.length > 0 && sub.getInstance()?.status === 'connect', 10_000, 20);
    sub.stop();
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([outcome, new Promise((resolve) => (timer = setTimeout(() => resolve('still pending after 3 s'), 3000)))]);
    clearTimeout(timer);
    expect(settled).toBe('failed: Connection is closed.');
    expect(sub.subscriberStatus).toBe('ended');
    expect(sub.isHealthy()).toBe(false);
  });
});
