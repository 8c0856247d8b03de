import { AppError } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import type { Point } from '@switchboard/protocol';
import type { DispatchRestorer } from './restore';
import type { DispatchService } from './service';
import type { DispatchStore } from './store';

interface LocalProvider {
  userId: string;
  /** The last location its socket sent (provider:online, provider:location). */
  at: Point;
}

/**
 * The providers whose sockets this replica holds: a liveness list and the replica's memory of
 * where each one is; their state is in Redis. Every PRESENCE_REFRESH_MS a tick extends their
 * records. It announces them all again, from this memory, when Redis comes back (records may
 * have expired meanwhile) and when the zone's epoch changed (Redis lost its data and the
 * orders were restored: restore.lua gave back the status of providers holding an order, this
 * gives back their location, socket and place in the GEO index). A tick that finds the epoch
 * missing wakes the restore.
 */
export class LocalProviders {
  private readonly sockets = new Map<string, LocalProvider>();
  /** The epoch this replica last announced its providers under, and at which request. */
  private announced: { epoch: string; request: number } | undefined;
  /** +1 each time Redis comes back or this replica restored: the next tick announces again. */
  private requests = 0;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private tickAgain = false;

  constructor(
    private readonly store: DispatchStore,
    private readonly service: DispatchService,
    private readonly restorer: DispatchRestorer,
    private readonly redis: RedisConnections,
    private readonly refreshMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.refreshMs);
    this.timer.unref();
    this.redis.on('up', this.announceAgain);
    this.restorer.onRestored = this.announceAgain;
  }

  stop(): void {
    clearInterval(this.timer);
    this.redis.off('up', this.announceAgain);
  }

  set(socketId: string, userId: string, at: Point): void {
    this.sockets.set(socketId, { userId, at });
  }

  moved(socketId: string, at: Point): void {
    const p = this.sockets.get(socketId);
    if (p) p.at = at;
  }

  /** Forgets a socket; true when it was a provider's. */
  drop(socketId: string): boolean {
    return this.sockets.delete(socketId);
  }

  dropUser(userId: string): void {
    for (const [sid, p] of this.sockets) if (p.userId === userId) this.sockets.delete(sid);
  }

  holds(userId: string): boolean {
    return [...this.sockets.values()].some((p) => p.userId === userId);
  }

  private readonly announceAgain = (): void => {
    this.requests++;
    void this.tick();
  };

  /** One tick at a time; one asked for while another runs follows it. */
  private tick(): Promise<void> {
    if (this.ticking) {
      this.tickAgain = true;
      return this.ticking;
    }
    this.ticking = this.refresh()
      .catch((err: unknown) => {
        // Redis away or restoring: the next tick mends it, so only a debug line; anything else is a bug.
        if (isRedisUnavailable(err) || (err instanceof AppError && err.code === 'UNAVAILABLE')) this.log.debug({ err: (err as Error).message }, 'provider refresh failed');
        else this.log.error({ err }, 'provider refresh failed');
      })
      .finally(() => {
        this.ticking = undefined;
        if (this.tickAgain) {
          this.tickAgain = false;
          void this.tick();
        }
      });
    return this.ticking;
  }

  private async refresh(): Promise<void> {
    if (!this.redis.isUp()) return;
    const request = this.requests;
    const epoch = await this.store.epoch();
    if (epoch === null) {
      void this.restorer.check();
      return;
    }
    if (epoch !== this.announced?.epoch || request !== this.announced.request) {
      for (const [socketId, p] of [...this.sockets]) await this.service.reannounce(p.userId, socketId, p.at);
      this.announced = { epoch, request };
      return;
    }
    if (this.sockets.size > 0) await this.store.refreshProviders([...new Set([...this.sockets.values()].map((p) => p.userId))]);
  }
}
