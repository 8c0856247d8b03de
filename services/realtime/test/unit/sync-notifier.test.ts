import { EventEmitter } from 'node:events';
import type { Server } from 'socket.io';
import type { RedisConnections } from '../../src/infra/redis';
import { notifySyncAfterRedisGaps } from '../../src/gateway/sync-notifier';

/** The coalescing rule alone: Redis state changes in, sync:required out (no sockets, no Redis). */
function setup() {
  const redis = Object.assign(new EventEmitter(), { up: true, isUp() { return this.up; } });
  const sent: Array<{ reason: string; since: number }> = [];
  const io = { local: { emit: (_event: string, payload: { reason: string; since: number }) => sent.push(payload) } } as unknown as Server;
  notifySyncAfterRedisGaps(io, redis as unknown as RedisConnections, 1000);
  return { redis, sent };
}

describe('sync:required after Redis gaps', () => {
  beforeEach(() => jest.useFakeTimers({ now: 10_000 }));
  afterEach(() => jest.useRealTimers());

  test('a failover of several drops and re-subscriptions gives one event, since the first drop', () => {
    const { redis, sent } = setup();
    redis.up = false;
    redis.emit('down');
    jest.advanceTimersByTime(300);
    redis.up = true;
    redis.emit('up');
    jest.advanceTimersByTime(400);
    redis.up = false;
    redis.emit('down');
    jest.advanceTimersByTime(200);
    redis.up = true;
    redis.emit('up');
    jest.advanceTimersByTime(500);
    redis.emit('resubscribed', 9_000);
    expect(sent).toHaveLength(0);
    jest.advanceTimersByTime(1000);
    expect(sent).toEqual([{ reason: 'redis-recovered', ts: expect.any(Number), since: 9_000 }]);
  });

  test('nothing is sent while Redis is still down, and the gap is announced after it returns', () => {
    const { redis, sent } = setup();
    redis.emit('resubscribed', 10_000);
    redis.up = false;
    redis.emit('down');
    jest.advanceTimersByTime(5000);
    expect(sent).toHaveLength(0);
    redis.up = true;
    redis.emit('up');
    jest.advanceTimersByTime(1000);
    expect(sent).toHaveLength(1);
    expect(sent[0].since).toBe(10_000);
  });

  test('no gap, no event', () => {
    const { redis, sent } = setup();
    redis.emit('up');
    jest.advanceTimersByTime(5000);
    expect(sent).toHaveLength(0);
  });
});
