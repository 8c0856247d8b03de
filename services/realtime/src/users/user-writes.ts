import type { AnyBulkWriteOperation, Model } from 'mongoose';
import type { UserDoc } from './index';

/** Update statements per bulkWrite: well under FerretDB's 100 connections, with every replica writing at once. */
const UPDATES_PER_BULK = 25;

interface PendingUserWrite {
  login?: { name: string; at: number };
  seenAt?: number;
}

export interface UserWriteQueueOptions {
  /** Most users per bulk write. */
  maxBatch: number;
  /** Users waiting beyond this are dropped (the writes are best effort; a login must not wait on them). */
  maxPending: number;
  /** A flush that takes longer is reported as failed; the next one still waits for it (one write at a time). */
  deadlineMs: number;
  /**
   * A user's login is written at most once per this interval by a replica:
   * lastLoginAt is that fresh, and a wave of returning users (whose writes are
   * updates, the dearest kind on an embedded store) costs the database little.
   */
  loginIntervalMs: number;
  /**
   * How long the first write of an idle queue waits for others to join it
   * (default 0: the next microtask). Nobody waits on these writes, so a
   * short wait turns a steady trickle of logins into one bulk per interval
   * instead of one insert each. drain() does not wait for it.
   */
  gatherMs?: number;
  /**
   * Most of the time (0 to 1] that update bulks may keep the database busy:
   * after each bulk the queue waits until that bulk's duration is this share
   * of the time since it began. Updates are the writes an embedded store pays
   * most for (FerretDB on SQLite scans the collection for each), and a wave
   * of disconnects queues one per user; paced, they never crowd out message
   * inserts. Default 1 (no pause). drain() skips the pauses.
   */
  maxUpdateShare?: number;
  /** How long each update bulk took, in seconds (whatever its outcome). */
  onUpdateBulk?(seconds: number): void;
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
  private readonly recentLogins = new Map<string, { name: string; at: number }>();
  private flushing = false;
  /** A flush is waiting to start (its gatherMs timer or microtask); `flushing` is set while one runs. */
  private scheduled = false;
  /** Set while drain() waits: pauses are skipped. */
  private hurry = false;
  /** Ends the current pause early (drain). */
  private wake?: () => void;

  constructor(
    private readonly users: Model<UserDoc>,
    private readonly options: UserWriteQueueOptions,
  ) {}

  login(userId: string, name: string, at: number): void {
    const last = this.recentLogins.get(userId);
    if (last !== undefined && at - last.at < this.options.loginIntervalMs && last.name === name) return;
    const entry = this.entry(userId);
    if (!entry) return;
    entry.login = { name, at: Math.max(at, entry.login?.at ?? 0) };
    this.rememberLogin(userId, name, at);
  }

  /** Bounded: entries older than the interval go first, and a flood of distinct users clears it. */
  private rememberLogin(userId: string, name: string, at: number): void {
    if (this.recentLogins.size >= 100_000) {
      for (const [id, l] of this.recentLogins) if (at - l.at >= this.options.loginIntervalMs) this.recentLogins.delete(id);
      if (this.recentLogins.size >= 100_000) this.recentLogins.clear();
    }
    this.recentLogins.set(userId, { name, at });
  }

  seen(userId: string, at: number): void {
    const entry = this.entry(userId);
    if (entry) entry.seenAt = Math.max(at, entry.seenAt ?? 0);
  }

  /** Resolves once everything queued so far has been written (or failed). */
  async drain(): Promise<void> {
    this.hurry = true;
    try {
      while (this.flushing || this.pending.size > 0) {
        this.wake?.();
        if (!this.flushing) void this.flush();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      this.hurry = false;
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
    this.schedule();
    return entry;
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    const gather = this.options.gatherMs ?? 0;
    if (gather > 0) setTimeout(() => void this.flush(), gather).unref();
    else queueMicrotask(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.size > 0) {
        // The oldest entries first, without copying a queue that may hold tens of thousands.
        const batch: Array<[string, PendingUserWrite]> = [];
        for (const e of this.pending) {
          if (batch.length === this.options.maxBatch) break;
          batch.push(e);
        }
        for (const [userId] of batch) this.pending.delete(userId);
        await this.write(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async write(batch: Array<[string, PendingUserWrite]>): Promise<void> {
    // Reported once it is late, but waited for: a second write started beside a
    // slow one would only make the database slower (and starve message inserts).
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      this.options.onError(new Error(`user writes did not finish within ${this.options.deadlineMs} ms`), batch.length);
    }, this.options.deadlineMs);
    try {
      await this.store(batch);
    } catch (err) {
      if (!late) this.options.onError(err as Error, batch.length);
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
        // $max: only forward in time, so a late or replayed offline event never moves lastSeen back.
        ops.push({ updateOne: { filter: { _id: userId }, update: { $max: { lastSeen: w.seenAt } } } });
      }
    }
    // Updates go in small bulks, one after the other: FerretDB's SQLite backend
    // holds a connection per update of a bulk until the bulk ends, and with its
    // 100 connections busy it deadlocks (a bulk of 100 updates never returns).
    for (let i = 0; i < ops.length; i += UPDATES_PER_BULK) {
      const started = performance.now();
      try {
        await this.users.bulkWrite(ops.slice(i, i + UPDATES_PER_BULK), { ordered: false });
      } finally {
        const ms = performance.now() - started;
        this.options.onUpdateBulk?.(ms / 1000);
        await this.pause(ms);
      }
    }
  }

  /** Waits so that a bulk of `busyMs` is at most maxUpdateShare of the time (see the option). */
  private async pause(busyMs: number): Promise<void> {
    const share = this.options.maxUpdateShare ?? 1;
    if (share >= 1 || this.hurry) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, (busyMs * (1 - share)) / share);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
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
