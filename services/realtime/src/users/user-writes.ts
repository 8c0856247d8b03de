import type { AnyBulkWriteOperation, Model } from 'mongoose';
import type { UserDoc } from './index';

interface PendingUserWrite {
  login?: { name: string; at: number };
  seenAt?: number;
}

export interface UserWriteQueueOptions {
  /** Most users per bulk write. */
  maxBatch: number;
  /** Users waiting beyond this are dropped (the writes are best effort; a login must not wait on them). */
  maxPending: number;
  /** A flush that takes longer is given up on, so a hung database does not stop the queue. */
  deadlineMs: number;
  onFlushed(userIds: string[]): Promise<void> | void;
  onError(err: Error, users: number): void;
  onDropped(userId: string): void;
}

/**
 * Login and last-seen writes, coalesced per user and stored in bulk: a
 * connect storm of thousands of logins costs the database a few bulk writes
 * instead of one upsert each, and never more than one at a time per replica
 * (an embedded store such as FerretDB on SQLite serialises its writers). A
 * user who logs in twice before the flush is written once, with the newer values.
 */
export class UserWriteQueue {
  private pending = new Map<string, PendingUserWrite>();
  private flushing = false;

  constructor(
    private readonly users: Model<UserDoc>,
    private readonly options: UserWriteQueueOptions,
  ) {}

  login(userId: string, name: string, at: number): void {
    const entry = this.entry(userId);
    if (entry) entry.login = { name, at: Math.max(at, entry.login?.at ?? 0) };
  }

  seen(userId: string, at: number): void {
    const entry = this.entry(userId);
    if (entry) entry.seenAt = Math.max(at, entry.seenAt ?? 0);
  }

  /** Resolves once everything queued so far has been written (or failed). */
  async drain(): Promise<void> {
    while (this.flushing || this.pending.size > 0) {
      if (!this.flushing) void this.flush();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private entry(userId: string): PendingUserWrite | undefined {
    let entry = this.pending.get(userId);
    if (!entry) {
      if (this.pending.size >= this.options.maxPending) {
        this.options.onDropped(userId);
        return undefined;
      }
      entry = {};
      this.pending.set(userId, entry);
    }
    if (!this.flushing) queueMicrotask(() => void this.flush());
    return entry;
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.size > 0) {
        const batch = [...this.pending.entries()].slice(0, this.options.maxBatch);
        for (const [userId] of batch) this.pending.delete(userId);
        await this.write(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async write(batch: Array<[string, PendingUserWrite]>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`user writes did not finish within ${this.options.deadlineMs} ms`)), this.options.deadlineMs);
    });
    try {
      await Promise.race([this.store(batch), deadline]);
    } catch (err) {
      this.options.onError(err as Error, batch.length);
    } finally {
      clearTimeout(timer);
    }
    // Cached profiles are dropped even after a failure: some of the batch may have been stored.
    await this.options.onFlushed(batch.map(([userId]) => userId));
  }

  /**
   * New users are inserted (far cheaper than upserts on an embedded store:
   * no lookup before each write); the ones that exist already fail that insert
   * with a duplicate key and get an update instead.
   */
  private async store(batch: Array<[string, PendingUserWrite]>): Promise<void> {
    const logins = batch.filter(([, w]) => w.login);
    const existing = await this.insertNew(logins);
    const ops: AnyBulkWriteOperation<UserDoc>[] = [];
    for (const [userId, w] of batch) {
      if (w.login && existing.has(userId)) {
        ops.push({ updateOne: { filter: { _id: userId }, update: { $set: { name: w.login.name, lastLoginAt: w.login.at } } } });
      }
      if (w.seenAt !== undefined) {
        // Only forward in time: a late or replayed offline event never moves lastSeen back.
        ops.push({
          updateOne: {
            filter: { _id: userId, $or: [{ lastSeen: { $exists: false } }, { lastSeen: { $lt: w.seenAt } }] },
            update: { $set: { lastSeen: w.seenAt } },
          },
        });
      }
    }
    if (ops.length > 0) await this.users.bulkWrite(ops, { ordered: false });
  }

  /** Inserts the users of these logins; returns the ids that were already there. */
  private async insertNew(logins: Array<[string, PendingUserWrite]>): Promise<Set<string>> {
    if (logins.length === 0) return new Set();
    const docs = logins.map(([userId, w]) => ({ _id: userId, name: w.login!.name, createdAt: w.login!.at, lastLoginAt: w.login!.at }));
    try {
      await this.users.insertMany(docs, { ordered: false, lean: true });
      return new Set();
    } catch (err) {
      const writeErrors = (err as { writeErrors?: Array<{ index: number; code?: number; err?: { index: number; code?: number } }> }).writeErrors ?? [];
      const failures = writeErrors.map((e) => e.err ?? e);
      // Anything but duplicates (a lost connection lists none): the batch failed.
      if (failures.length === 0 || failures.some((e) => e.code !== 11000)) throw err;
      return new Set(failures.map((e) => logins[e.index][0]));
    }
  }
}
