import type { Model } from 'mongoose';
import { answer, queueWithDeadline, type Deadlined } from '../infra/deadline';
import type { MembershipDoc } from './membership.model';

/** The caller stopped waiting; the membership stays queued and is stored when MongoDB answers. */
export class MembershipInsertTimeout extends Error {
  constructor(ms: number) {
    super(`membership storage did not answer within ${ms} ms`);
  }
}

/** The queue is full (MongoDB has been away long): this membership is not stored. */
export class MembershipQueueFull extends Error {
  constructor() {
    super('too many memberships are waiting for MongoDB');
  }
}

interface Pending extends Deadlined<boolean> {
  doc: MembershipDoc;
}

export interface MembershipInsertsOptions {
  maxBatch: number;
  /** Memberships waiting beyond this are refused at once. */
  maxPending: number;
  /** A caller is answered within this long (MONGO_TIMEOUT_MS); the insert itself goes on. */
  deadlineMs: number;
  /** Every membership once stored, `created` false when it existed already; also those whose caller stopped waiting. Its callers wait for it. */
  onStored(doc: MembershipDoc, created: boolean): Promise<void>;
  onError(err: Error, memberships: number): void;
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 4000;

/**
 * Group commit for the memberships public room joins create: the joins that
 * arrive while one insert runs are stored together by the next `insertMany`,
 * so a connect storm's joins cost the database a few inserts. An existing
 * membership is a duplicate key and counts as stored. A batch the database did
 * not answer is retried with backoff: a join answered while MongoDB was away
 * still becomes durable when it is back (its caller heard nothing of it).
 */
export class MembershipInserts {
  private queue: Pending[] = [];
  private flushing = false;
  private retryMs = RETRY_MIN_MS;

  constructor(
    private readonly memberships: Model<MembershipDoc>,
    private readonly options: MembershipInsertsOptions,
  ) {}

  /** Resolves with `created` once stored; rejects after `deadlineMs` (the insert goes on) or when the queue is full. */
  insert(doc: MembershipDoc): Promise<boolean> {
    if (this.queue.length >= this.options.maxPending) return Promise.reject(new MembershipQueueFull());
    return queueWithDeadline<boolean, { doc: MembershipDoc }>({ doc }, this.options.deadlineMs, () => new MembershipInsertTimeout(this.options.deadlineMs), (p) => {
      this.queue.push(p);
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch);
        const outcome = await this.write(batch.map((p) => p.doc));
        if (!Array.isArray(outcome)) {
          // Nothing says which were stored: all go back, in order, and are tried again.
          this.options.onError(outcome, batch.length);
          this.queue.unshift(...batch);
          await new Promise((r) => setTimeout(r, this.retryMs).unref());
          this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
          continue;
        }
        this.retryMs = RETRY_MIN_MS;
        // The next batch waits for these callbacks too: memberships are told in the order they were stored.
        await Promise.all(
          batch.map(async (p, i) => {
            const result = outcome[i];
            if (!(result instanceof Error)) await this.options.onStored(p.doc, result).catch(() => undefined);
            answer(p, result);
          }),
        );
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * For each document whether its insert created it (false: it existed) or
   * the error that refused it; or one error when the server did not say
   * (a lost connection lists no write errors): then all are tried again.
   */
  private async write(docs: MembershipDoc[]): Promise<Array<boolean | Error> | Error> {
    try {
      await this.memberships.insertMany(docs, { ordered: false, lean: true });
      return docs.map(() => true);
    } catch (err) {
      const listed = (err as { writeErrors?: Array<{ index: number; code?: number; errmsg?: string; err?: { index: number; code?: number; errmsg?: string } }> }).writeErrors ?? [];
      const failures = new Map(listed.map((e) => e.err ?? e).map((e) => [e.index, e]));
      if (failures.size === 0) return err as Error;
      return docs.map((_, i) => {
        const f = failures.get(i);
        if (!f) return true;
        return f.code === 11000 ? false : new Error(f.errmsg ?? 'membership refused');
      });
    }
  }
}
