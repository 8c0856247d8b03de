import { Types, type Model } from 'mongoose';
import type { MessageDoc } from './message.model';

type NewMessage = Omit<MessageDoc, '_id'>;

interface Pending {
  doc: MessageDoc;
  resolve(doc: MessageDoc): void;
  reject(err: unknown): void;
}

/** The error one message of a batch gets: same shape as the driver's (`code` 11000 for a duplicate key). */
export class MessageWriteError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
  }
}

/**
 * Group commit for chat messages: the sends that arrive while one insert is
 * in flight are stored together in the next `insertMany`, so a burst costs
 * the database a few transactions instead of one per message (an embedded
 * store such as FerretDB on SQLite serialises every transaction). When the
 * database is idle a message is written at once: there is no timer to wait for.
 *
 * Each caller still learns its own outcome: the batch is unordered, so one
 * duplicate (unique userId + clientMsgId) fails only that message.
 */
export class MessageWriter {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly messages: Model<MessageDoc>,
    private readonly maxBatch = 256,
    private readonly onBatch: (size: number) => void = () => undefined,
  ) {}

  insert(fields: NewMessage): Promise<MessageDoc> {
    return new Promise((resolve, reject) => {
      this.queue.push({ doc: { _id: new Types.ObjectId(), ...fields }, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        this.onBatch(batch.length);
        await this.write(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      // The driver's insertMany: the documents are already whole, and its bulk
      // error names the index of each failed one.
      await this.messages.collection.insertMany(
        batch.map((p) => ({ ...p.doc })),
        { ordered: false },
      );
      for (const p of batch) p.resolve(p.doc);
    } catch (err) {
      const failed = failedIndexes(err);
      if (!failed) {
        // Nothing says which ones failed (a timeout, a lost connection): all fail, and a
        // retry with the same clientMsgId finds the ones that were stored after all.
        for (const p of batch) p.reject(err);
        return;
      }
      batch.forEach((p, i) => {
        const writeError = failed.get(i);
        if (writeError) p.reject(new MessageWriteError(writeError.message, writeError.code));
        else p.resolve(p.doc);
      });
    }
  }
}

/** Index -> error of a MongoBulkWriteError, or undefined for any other error. */
function failedIndexes(err: unknown): Map<number, { code?: number; message: string }> | undefined {
  const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
  if (!writeErrors) return undefined;
  const list = (Array.isArray(writeErrors) ? writeErrors : [writeErrors]) as Array<{ index: number; code?: number; errmsg?: string; message?: string }>;
  const out = new Map<number, { code?: number; message: string }>();
  for (const e of list) out.set(e.index, { code: e.code, message: e.errmsg ?? e.message ?? 'write failed' });
  return out;
}
