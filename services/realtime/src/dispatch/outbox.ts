import { AppError } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import type { OrderArchive } from './archive';
import type { DispatchMetrics } from './metrics';
import type { DispatchStore } from './store';

/** Transitions per MongoDB write. */
const BATCH = 200;
/**
 * How often the lock holder looks at an empty outbox. A step on this replica wakes it at once
 * (nudge); steps on the others wait for this look.
 */
const POLL_MS = 1000;
/** How often a replica that does not hold the lock checks whether it is free. */
const STANDBY_MS = 1000;
/** The lock outlives the longest wait between two of its holder's ticks (MAX_BACKOFF_MS). */
const LOCK_MS = 10_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 4000;

/**
 * Drains the dispatch outbox into MongoDB. Every step script appends the transition it made to
 * the outbox stream in the same atomic call (lua/outbox.lua), so a step never waits on MongoDB
 * and no acknowledged transition exists only in a replica's memory. Each replica runs a writer;
 * the one holding the outbox lock reads the oldest entries, stores them (OrderArchive.write:
 * replayable upserts) and only then deletes them from the stream. While MongoDB is away the
 * entries wait in Redis and the writer retries with backoff; if the lock holder dies, another
 * replica takes the lock when it expires and replays what was not deleted.
 */
export class OutboxWriter {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  private holding = false;
  private backoffMs = 0;
  /** Waiting out POLL_MS after finding the outbox empty: a nudge may end the wait. */
  private idle = false;

  constructor(
    private readonly store: DispatchStore,
    private readonly archive: OrderArchive,
    private readonly redis: RedisConnections,
    private readonly nodeId: string,
    private readonly log: Logger,
    private readonly metrics: DispatchMetrics,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops after the write in flight and hands the lock over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.holding) await this.store.releaseLock('outbox', this.nodeId).catch(() => undefined); // it expires by itself
    this.holding = false;
  }

  /** A step on this replica wrote a transition: the lock holder drains it now rather than at its next look. */
  nudge(): void {
    if (!this.idle || this.stopped) return;
    clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.idle = false;
      this.running = this.tick()
        .catch((err: unknown) => this.failed(err))
        .then((next) => {
          this.running = undefined;
          this.schedule(next);
        });
    }, ms);
    this.timer.unref();
  }

  /** One round; returns how long to wait before the next. */
  private async tick(): Promise<number> {
    if (!this.redis.isUp()) return STANDBY_MS;
    this.holding = await this.store.holdLock('outbox', this.nodeId, LOCK_MS);
    if (!this.holding) return STANDBY_MS;
    const { entries, malformed } = await this.store.readOutbox(BATCH);
    if (malformed.length > 0) {
      // Not written by record() (a bug, or a hand-edited stream): kept in the log, not retried for ever.
      this.log.error({ entries: malformed }, 'dropping unreadable dispatch outbox entries');
      await this.store.deleteFromOutbox(malformed.map((m) => m.streamId));
    }
    if (entries.length === 0 && malformed.length === 0) {
      this.idle = true;
      return POLL_MS;
    }
    if (entries.length === 0) return 0;
    if (!this.archive.isUp()) return this.backoff();
    const started = performance.now();
    await this.archive.write(entries);
    this.metrics.outboxWriteSeconds.observe((performance.now() - started) / 1000);
    await this.store.deleteFromOutbox(entries.map((e) => e.streamId));
    this.metrics.transitionsStored.inc(entries.length);
    this.backoffMs = 0;
    return 0;
  }

  private failed(err: unknown): number {
    if (isRedisUnavailable(err) || (err instanceof AppError && err.code === 'UNAVAILABLE')) {
      this.log.debug({ err: (err as Error).message }, 'dispatch outbox: redis unavailable');
      return STANDBY_MS;
    }
    this.metrics.outboxWriteFailures.inc();
    this.log.warn({ err: (err as Error).message }, 'dispatch outbox: MongoDB did not take the transitions; they stay in Redis and are retried');
    return this.backoff();
  }

  private backoff(): number {
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs ? this.backoffMs * 2 : FIRST_BACKOFF_MS);
    return this.backoffMs;
  }
}
