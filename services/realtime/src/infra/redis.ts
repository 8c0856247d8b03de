import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

/**
 * The three Redis connections of a replica and whether they work.
 *
 * - `command`: presence, sessions, rooms. Fails fast (no offline queue, a
 *   command timeout) so a handler never hangs on a dead or frozen Redis and can
 *   fall back to local state instead.
 * - `pub`: the adapter's publisher. Fails fast too, so broadcasts do not pile up
 *   in memory during an outage; its rejections are caught here because the
 *   adapter does not await `publish`.
 * - `sub`: the adapter's subscriber. Keeps its queue, and ioredis re-subscribes
 *   every channel after a reconnect (autoResubscribe), which is what brings
 *   cross-replica delivery back by itself.
 *
 * ioredis rather than node-redis: its resubscribe-after-reconnect is reliable,
 * and it has the same API for a Redis Cluster.
 */
export class RedisConnections extends EventEmitter {
  readonly command: Redis;
  readonly pub: Redis;
  readonly sub: Redis;
  private up = false;
  private readonly extra: Redis[] = [];

  constructor(url: string, private readonly log: Logger, private readonly metrics: Metrics) {
    super();
    const base: RedisOptions = {
      lazyConnect: false,
      connectTimeout: 2000,
      // Reconnect forever, quickly at first, at most every 2 s.
      retryStrategy: (times) => Math.min(100 * times, 2000),
      maxRetriesPerRequest: 1,
    };
    this.command = new Redis(url, { ...base, enableOfflineQueue: false, commandTimeout: 2000, connectionName: 'sb-command' });
    this.pub = new Redis(url, { ...base, enableOfflineQueue: false, commandTimeout: 2000, connectionName: 'sb-pub' });
    this.sub = new Redis(url, { ...base, enableOfflineQueue: true, maxRetriesPerRequest: null, connectionName: 'sb-sub' });

    this.swallowPublishRejections();
    for (const [name, client] of this.entries()) {
      // Without an error listener a connection error would be thrown as an
      // uncaught 'error' event and end the process.
      client.on('error', (err: Error) => {
        this.metrics.redisErrors.inc({ client: name });
        this.log.debug({ err: err.message, client: name }, 'redis client error');
      });
      client.on('ready', () => this.updateState());
      client.on('close', () => this.updateState());
      client.on('end', () => this.updateState());
    }
  }

  /**
   * A connection for the streams adapter, which duplicates it for its blocking
   * XREAD loop. No command timeout: a blocking read waits by design. It keeps
   * an offline queue: the adapter retries a failed XREAD at once, and without
   * a queue that retry loop spins in microtasks and starves the reconnect; with
   * it, each retry waits for a reconnect attempt (maxRetriesPerRequest 1).
   */
  createStreamsClient(url: string): Redis {
    const client = new Redis(url, {
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(100 * times, 2000),
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      connectionName: 'sb-streams',
    });
    client.on('error', () => this.metrics.redisErrors.inc({ client: 'streams' }));
    this.extra.push(client);
    return client;
  }

  /** True while all three connections are ready. */
  isUp(): boolean {
    return this.up;
  }

  /** Resolves once every client is ready, or rejects after `ms`. */
  async waitUntilUp(ms: number): Promise<void> {
    if (this.up) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('up', onUp);
        reject(new Error(`redis not ready after ${ms} ms`));
      }, ms);
      const onUp = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('up', onUp);
    });
  }

  async close(): Promise<void> {
    const all = [...this.entries().map(([, c]) => c), ...this.extra];
    await Promise.allSettled(all.map((c) => c.quit().catch(() => c.disconnect())));
  }

  private entries(): Array<[string, Redis]> {
    return [
      ['command', this.command],
      ['pub', this.pub],
      ['sub', this.sub],
    ];
  }

  private updateState(): void {
    const up = this.entries().every(([, c]) => c.status === 'ready');
    if (up === this.up) return;
    this.up = up;
    this.metrics.redisUp.set(up ? 1 : 0);
    this.log.info({ redis: up ? 'connected' : 'disconnected' }, up ? 'redis connected' : 'redis is unavailable');
    this.emit(up ? 'up' : 'down');
  }

  /** The adapter calls publish without awaiting it: count failures instead of leaking rejections. */
  private swallowPublishRejections(): void {
    for (const method of ['publish', 'spublish'] as const) {
      const target = this.pub as unknown as Record<string, (...args: unknown[]) => Promise<number>>;
      const original = target[method].bind(this.pub);
      target[method] = (...args: unknown[]) => {
        const result = original(...args);
        result.catch(() => {
          this.metrics.redisErrors.inc({ client: 'pub' });
          this.metrics.adapterPublishErrors.inc();
        });
        return result;
      };
    }
  }
}

/** ioredis reports per-command errors inside a MULTI/pipeline result instead of rejecting. */
export function throwOnMultiError(results: Array<[Error | null, unknown]> | null): Array<[Error | null, unknown]> {
  if (!results) throw new Error('transaction aborted');
  for (const [err] of results) if (err) throw err;
  return results;
}
