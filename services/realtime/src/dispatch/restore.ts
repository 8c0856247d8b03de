import { randomBytes } from 'node:crypto';
import { AppError } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import type { OrderArchive } from './archive';
import type { DispatchMetrics } from './metrics';
import type { DispatchService } from './service';
import type { DispatchStore, StoredOrder } from './store';

/** Orders per MongoDB read while restoring. */
const PAGE = 500;
/** The restore lock outlives one page of restoring; it is extended after each. */
const LOCK_MS = 60_000;

/**
 * Brings the zone's orders back when Redis comes back without its data. The zone's epoch key
 * (store.ts) is written at the end of every restore; while it is missing every step script
 * answers 'restoring' (UNAVAILABLE to clients) and changes nothing. Any replica that finds it
 * missing (its keeper's tick, a step answering 'restoring', Redis coming back) runs check();
 * the one that takes the restore lock reads the active and unassigned orders from MongoDB,
 * writes each back with its state, attempt, tried set and seq (lua/restore.lua, which also
 * gives each offered or assigned order's provider its status back), schedules new timers for
 * the searching and offered ones, and writes the epoch. A restore that dies half-way leaves
 * the epoch missing: the next one skips what is already back and finishes. Needs MongoDB:
 * while it is away, dispatch stays UNAVAILABLE rather than act on orders it has forgotten.
 */
export class DispatchRestorer {
  private running?: Promise<void>;
  /** Said once per wait that the restore waits for MongoDB. */
  private waitingForMongo = false;
  /** Told when this replica finished a restore (its keeper announces its providers at once). */
  onRestored: () => void = () => undefined;

  constructor(
    private readonly store: DispatchStore,
    private readonly archive: OrderArchive,
    private readonly service: DispatchService,
    private readonly redis: RedisConnections,
    private readonly nodeId: string,
    /** How long restored orders wait before searching or expiring: every replica announces its providers within it. */
    private readonly settleMs: number,
    private readonly log: Logger,
    private readonly metrics: DispatchMetrics,
  ) {}

  /** Restores if the epoch key is missing; one run at a time here, one replica at a time in all. */
  check(): Promise<void> {
    this.running ??= this.run()
      .catch((err: unknown) => this.failed(err))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<void> {
    if (!this.redis.isUp() || (await this.store.epoch()) !== null) return;
    if (!this.archive.isUp()) {
      if (!this.waitingForMongo) this.log.warn('dispatch lost its Redis state; its orders are restored once MongoDB answers (dispatch answers UNAVAILABLE until then)');
      this.waitingForMongo = true;
      return;
    }
    this.waitingForMongo = false;
    if (!(await this.store.holdLock('restore', this.nodeId, LOCK_MS))) return;
    try {
      const epoch = randomBytes(6).toString('hex');
      const resume: StoredOrder[] = [];
      let restored = 0;
      for await (const page of this.archive.restorable(PAGE)) {
        for (const { order, tried } of page) {
          const tag = await this.store.restoreOrder(order, tried);
          if (tag === 'done') return; // another replica's restore finished first
          if (tag === 'restored') restored++;
          // 'exists': put back by a restore that died before its end, which may not have set its timers.
          if ((tag === 'restored' || tag === 'exists') && (order.status === 'searching' || order.status === 'offered')) resume.push(order);
        }
        await this.store.holdLock('restore', this.nodeId, LOCK_MS);
      }
      // Timers before the epoch: a crash in between leaves the epoch missing, and the next restore sets them again.
      for (const order of resume) await this.service.resumeAfterRestore(order, epoch, this.settleMs);
      if (await this.store.setEpoch(epoch)) {
        this.metrics.restoredOrders.inc(restored);
        // Nothing to restore is also what a first start looks like.
        if (restored > 0) this.log.warn({ restored, resumed: resume.length, epoch }, 'dispatch state was lost from Redis; orders restored from MongoDB');
        else this.log.info({ epoch }, 'dispatch zone ready: no active order in MongoDB to restore');
      }
      this.onRestored();
    } finally {
      await this.store.releaseLock('restore', this.nodeId).catch(() => undefined); // it expires by itself
    }
  }

  private failed(err: unknown): void {
    if (isRedisUnavailable(err) || (err instanceof AppError && err.code === 'UNAVAILABLE')) {
      this.log.warn({ err: (err as Error).message }, 'dispatch restore interrupted; retried on the next check');
      return;
    }
    this.log.error({ err }, 'dispatch restore failed');
  }
}
