import { Types, type Model } from 'mongoose';
import type { MessageDoc } from './message.model';

type NewMessage = Omit<MessageDoc, '_id'>;

/** A stored message, with what `beforeInsert` said about it. */
export interface Stored<Tag> {
  doc: MessageDoc;
  tag?: Tag;
}

interface Pending<Tag> {
  doc: MessageDoc;
  /** Answered already: stored, refused, or told it timed out. */
  settled: boolean;
  timer: NodeJS.Timeout;
  tag?: Tag;
  resolve(stored: Stored<Tag>): void;
  reject(err: unknown): void;
}

/** The outcome one message of a batch gets: same shape as the driver's (`code` 11000 for a duplicate key). */
export class MessageWriteError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
  }
}

/** A batch did not finish within the deadline; it may still be stored later. */
export class MessageWriteTimeout extends Error {
  constructor(ms: number) {
    super(`message storage did not answer within ${ms} ms`);
  }
}

export interface MessageWriterOptions<Tag> {
  /** Most messages per insert. */
  maxBatch: number;
  /**
   * Runs before each batch is inserted, and the insert waits for it (the
   * chat service registers the batch's rooms first). Its map tags messages,
   * which get their tag back with their outcome; a rejection fails the batch.
   */
  beforeInsert?(docs: MessageDoc[]): Promise<Map<MessageDoc, Tag>>;
  /** A caller is answered within this long, stored or not (MONGO_TIMEOUT_MS). */
  deadlineMs: number;
  onBatch?(size: number): void;
  /** How long each batch's insert took, in seconds (whatever its outcome). */
  onInsertTime?(seconds: number): void;
  /**
   * Messages of a batch that outran its deadline (their senders were told
   * UNAVAILABLE) but were stored after all: the caller broadcasts them late,
   * and a retry with the same clientMsgId finds them as duplicates.
   */
  onLateWrite?(docs: MessageDoc[]): void;
}

/**
 * Group commit for chat messages: the sends that arrive while one insert is
 * in flight are stored together in the next `insertMany`, so a burst costs
 * the database a few transactions instead of one per message (an embedded
 * store such as FerretDB on SQLite serialises every transaction). When the
 * database is idle a message is written at once: there is no timer to wait for.
 *
 * Each caller learns its own outcome (the batch is unordered, so a duplicate
 * fails only its own message) within `deadlineMs`: a database that hangs or
 * comes back slowly never holds a sender longer than a single write would.
 */
export class MessageWriter<Tag = never> {
  private queue: Array<Pending<Tag>> = [];
  private flushing = false;

  constructor(
    private readonly messages: Model<MessageDoc>,
    private readonly options: MessageWriterOptions<Tag>,
  ) {}

  /** Resolves once stored, rejects when refused or after `deadlineMs` (counted from now, queueing included). */
  async insert(fields: NewMessage): Promise<MessageDoc> {
    return (await this.insertTagged(fields)).doc;
  }

  /** insert(), with the message's tag from `beforeInsert`. */
  insertTagged(fields: NewMessage): Promise<Stored<Tag>> {
    return new Promise((resolve, reject) => {
      const p: Pending<Tag> = {
        doc: { _id: new Types.ObjectId(), ...fields },
        settled: false,
        timer: setTimeout(() => {
          p.settled = true;
          reject(new MessageWriteTimeout(this.options.deadlineMs));
        }, this.options.deadlineMs),
        resolve,
        reject,
      };
      this.queue.push(p);
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        // Messages whose senders were already told UNAVAILABLE while they queued
        // are not written at all: their resend stores them.
        const batch = this.queue.splice(0, this.options.maxBatch).filter((p) => !p.settled);
        if (batch.length === 0) continue;
        this.options.onBatch?.(batch.length);
        await this.write(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** One insert at a time: the next batch waits for this write itself, even after its senders were answered. */
  private async write(batch: Array<Pending<Tag>>): Promise<void> {
    const started = performance.now();
    const outcomes = await this.insertBatch(batch);
    this.options.onInsertTime?.((performance.now() - started) / 1000);
    const late: MessageDoc[] = [];
    batch.forEach((p, i) => {
      clearTimeout(p.timer);
      const outcome = outcomes[i];
      if (p.settled) {
        if (outcome === 'stored') late.push(p.doc);
        return;
      }
      p.settled = true;
      if (outcome === 'stored') p.resolve({ doc: p.doc, tag: p.tag });
      else p.reject(outcome);
    });
    if (late.length > 0) this.options.onLateWrite?.(late);
  }

  /** 'stored' or the error of each message, in batch order. */
  private async insertBatch(batch: Array<Pending<Tag>>): Promise<Array<'stored' | Error>> {
    try {
      if (this.options.beforeInsert) {
        const tags = await this.options.beforeInsert(batch.map((p) => p.doc));
        for (const p of batch) p.tag = tags.get(p.doc);
      }
      // Through the model (not its raw collection), so bufferCommands: false
      // holds: with MongoDB away the insert fails instead of waiting in a queue.
      // lean: the documents are whole already, and the bulk error's indexes
      // then match the batch.
      await this.messages.insertMany(
        batch.map((p) => ({ ...p.doc })),
        { ordered: false, lean: true },
      );
      return batch.map(() => 'stored');
    } catch (err) {
      const failed = failedIndexes(err);
      // Nothing says which ones failed (a timeout, a lost connection): all fail,
      // and a retry with the same clientMsgId finds any that were stored after all.
      if (!failed) return batch.map(() => err as Error);
      return batch.map((_, i) => {
        const e = failed.get(i);
        return e ? new MessageWriteError(e.message, e.code) : 'stored';
      });
    }
  }
}

/**
 * Index -> error when the server answered the batch and refused some of its
 * documents; undefined for anything else. The driver wraps every failure of an
 * insertMany in a bulk write error, a lost connection too (with an empty
 * writeErrors list): only a non-empty list, without a write-concern error,
 * says that the documents it does not name were stored.
 */
function failedIndexes(err: unknown): Map<number, { code?: number; message: string }> | undefined {
  const { writeErrors, writeConcernError, result } = err as { writeErrors?: unknown; writeConcernError?: unknown; result?: { hasWriteConcernError?(): boolean } };
  const listed = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
  if (listed.length === 0 || writeConcernError || result?.hasWriteConcernError?.()) return undefined;
  const list = listed as Array<{ index: number; code?: number; errmsg?: string; message?: string; err?: { index: number; code?: number; errmsg?: string } }>;
  const out = new Map<number, { code?: number; message: string }>();
  for (const e of list) {
    const inner = e.err ?? e;
    out.set(inner.index, { code: inner.code, message: inner.errmsg ?? e.message ?? 'write failed' });
  }
  return out;
}
