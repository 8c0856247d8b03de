import { Types, type Model } from 'mongoose';
import type { Keyspace } from '../infra/keys';
import type { RedisConnections } from '../infra/redis';
import { AppError } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import type { MongoConnection } from '../infra/mongo';
import { messageModel, type MessageDoc } from './message.model';
import { MessageWriter } from './message-writer';
import { RecentWindow } from './recent-window';
import { RoomRegistry } from './room-registry';
import type { ChatMessage } from '@switchboard/protocol';
import { pendingRemindersKey } from '../jobs/reminders';

/** How often message counts per room, kept in memory, are added to Redis. */
const ACTIVITY_FLUSH_MS = 1000;

/** A stored message, and the sender's pending reminders in its room that its send took (their job ids). */
export interface SendResult {
  message: ChatMessage;
  duplicate: boolean;
  answered: string[];
}

/**
 * Durable chat: a message is stored in MongoDB before anyone is told about
 * it (sends that arrive together are stored together, see MessageWriter), and
 * a unique (userId, clientMsgId) index makes retries safe. History
 * is ordered by (ts, id) so every replica pages it the same way; recent pages
 * come from the room's window in Redis (RecentWindow), older ones from MongoDB.
 *
 * A send costs Redis one round trip, after the insert and before the
 * broadcast: its window add, which also takes the sender's pending reminders
 * in the room. The room's activity count is kept in memory and added to Redis
 * once a second.
 */
export class ChatService {
  private readonly messages: Model<MessageDoc>;
  /** Tags the first message of a room that had none with the window generation known before its registration. */
  private readonly writer: MessageWriter<number>;
  private readonly window: RecentWindow;
  private readonly registry: RoomRegistry;
  /** Messages per room since the last activity flush. */
  private activity = new Map<string, number>();
  private readonly activityTimer: NodeJS.Timeout;
  /** Rooms waiting for their window to be filled, with whoever waits for each (see fillWindows). */
  private readonly toFill = new Map<string, Array<() => void>>();
  private filling = false;
  private lateListener: (message: ChatMessage) => void = () => undefined;

  constructor(
    private readonly mongo: MongoConnection,
    private readonly instance: string,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    writeDeadlineMs: number,
    window: { size: number; ttlMs: number },
  ) {
    this.messages = messageModel(mongo.connection);
    this.window = new RecentWindow(redis, keys, log, window.size, window.ttlMs, (room) => void this.fillWindow(room));
    this.registry = new RoomRegistry(mongo.connection, this.messages, log);
    this.writer = new MessageWriter<number>(this.messages, {
      maxBatch: 256,
      deadlineMs: writeDeadlineMs,
      beforeInsert: (docs) => this.registerRooms(docs),
      onBatch: (size) => this.metrics.messageBatchSize.observe(size),
      onInsertTime: (seconds) => this.metrics.messageInsertSeconds.observe(seconds),
      onLateWrite: (docs) => void this.afterLateWrite(docs),
    });
    this.activityTimer = setInterval(() => void this.flushActivity(), ACTIVITY_FLUSH_MS);
    this.activityTimer.unref();
  }

  stop(): void {
    clearInterval(this.activityTimer);
    this.window.stop();
  }

  /**
   * Registers the rooms of a batch before its messages are stored, and tags
   * the first message of each room that had none with the generation known
   * before the registration: a window bumped after that point stays distrusted.
   */
  private async registerRooms(docs: MessageDoc[]): Promise<Map<MessageDoc, number>> {
    const generation = this.window.knownGeneration;
    const opened = await this.registry.register(docs.map((d) => d.room));
    const tags = new Map<MessageDoc, number>();
    if (generation === undefined || opened.size === 0) return tags;
    for (const doc of docs) {
      if (!opened.delete(doc.room)) continue;
      tags.set(doc, generation);
    }
    return tags;
  }

  /**
   * Called with each message stored after its sender was already told
   * UNAVAILABLE (the write outran MONGO_TIMEOUT_MS): broadcast it then, so
   * members need not wait for history:sync. The sender's retry gets it as a duplicate.
   */
  onLateMessage(listener: (message: ChatMessage) => void): void {
    this.lateListener = listener;
  }

  /**
   * Persists a message; `duplicate` is true when the clientMsgId was already
   * stored. Then one Redis round trip before it returns (and so before anyone
   * hears of the message): the window add, which takes the sender's pending
   * reminders in the room (`answered`).
   */
  async send(userId: string, room: string, text: string, clientMsgId: string): Promise<SendResult> {
    this.requireMongo();
    let stored: Awaited<ReturnType<MessageWriter<number>['insertTagged']>>;
    const started = performance.now();
    try {
      stored = await this.writer.insertTagged({ room, userId, text, clientMsgId, ts: Date.now(), instance: this.instance });
    } catch (err) {
      if ((err as { code?: number }).code === 11000) {
        const first = await this.run(() => this.messages.findOne({ userId, clientMsgId }).lean<MessageDoc>());
        if (first) {
          // Adding again is harmless, and mends a window this message never
          // reached (its first send's replica stopped between insert and add).
          const message = toChatMessage(first);
          await this.window.add([message], '2');
          return { message, duplicate: true, answered: [] };
        }
      }
      throw this.unavailable(err);
    }
    const message = toChatMessage(stored.doc);
    const added = performance.now();
    this.metrics.sendStage.observe({ stage: 'store' }, (added - started) / 1000);
    this.metrics.messagesPersisted.inc();
    const answered = await this.window.addSent(message, pendingRemindersKey(this.keys, room, userId), stored.tag);
    this.metrics.sendStage.observe({ stage: 'redis' }, (performance.now() - added) / 1000);
    this.countActivity(room);
    return { message, duplicate: false, answered };
  }

  /** After messages are stored: count them, and add them to their rooms' windows before anyone hears of them. */
  private async stored(messages: ChatMessage[]): Promise<void> {
    this.metrics.messagesPersisted.inc(messages.length);
    await this.window.add(messages, '1');
    for (const m of messages) this.countActivity(m.room);
  }

  private async afterLateWrite(docs: MessageDoc[]): Promise<void> {
    this.log.warn({ messages: docs.length }, 'messages stored after their deadline: broadcasting them late');
    const messages = docs.map(toChatMessage);
    await this.stored(messages);
    for (const m of messages) this.lateListener(m);
  }

  /** Newest first, `before` (a message id) excluded. Served from the room's window when it holds the page. */
  async history(room: string, limit: number, before?: string): Promise<ChatMessage[]> {
    if (before !== undefined) before = messageId(before);
    const page = await this.fromWindow(room, before, ({ messages, complete }) => {
      const end = before === undefined ? messages.length : messages.findIndex((m) => m.id === before);
      // The page is in the window when the anchor is, and either `limit` older
      // messages are too or the window holds the room's whole history.
      return end >= 0 && (end >= limit || complete) ? messages.slice(Math.max(0, end - limit), end).reverse() : undefined;
    });
    return page ?? this.loadHistory(room, limit, before);
  }

  /**
   * What `pick` finds in the room's trusted window, filling it first when it
   * is not trusted; undefined when the window cannot answer (the caller reads
   * MongoDB). A wrong `anchor` id answers NOT_FOUND before anything is filled.
   */
  private async fromWindow<T>(room: string, anchor: string | undefined, pick: (window: { messages: ChatMessage[]; complete: boolean }) => T | undefined): Promise<T | undefined> {
    let window = await this.window.read(room);
    if (!window && this.window.enabled) {
      if (anchor) await this.anchor(room, anchor);
      await this.fillWindow(room);
      window = await this.window.read(room);
    }
    return window ? pick(window) : undefined;
  }

  /**
   * Fills the room's window from MongoDB; resolves when done (or failed: the
   * caller then reads MongoDB itself). Rooms asked for while a fill runs are
   * filled together in the next one: one query for all of them, so a wave of
   * joins or a Redis recovery costs the database a few reads, not one per
   * room and replica (a MongoDB-wire store without index use, like FerretDB,
   * scans the collection for each).
   */
  private fillWindow(room: string): Promise<void> {
    return new Promise((resolve) => {
      const waiting = this.toFill.get(room);
      if (waiting) waiting.push(resolve);
      else this.toFill.set(room, [resolve]);
      if (!this.filling) void this.fillWindows();
    });
  }

  private async fillWindows(): Promise<void> {
    this.filling = true;
    try {
      while (this.toFill.size > 0) {
        const rooms = [...this.toFill.keys()].slice(0, 100);
        const waiting = rooms.flatMap((r) => {
          const list = this.toFill.get(r) ?? [];
          this.toFill.delete(r);
          return list;
        });
        await this.fillRooms(rooms).catch((err: unknown) => {
          // UNAVAILABLE (MongoDB, logged by run()): the readers read MongoDB themselves and answer that.
          if (!(err instanceof AppError)) this.log.error({ err }, 'history window fill failed');
        });
        for (const done of waiting) done();
      }
    } finally {
      this.filling = false;
    }
  }

  /**
   * The newest messages of several rooms in one query, sorted by (ts, id) and
   * limited: what it returns of each room is every message of that room from
   * the query's cut-off on, a suffix of its history (its whole history when
   * the query returned less than its limit).
   */
  private async fillRooms(rooms: string[]): Promise<void> {
    if (!this.mongo.isUp()) return;
    const generation = await this.window.generation(); // before the read: a bump during it leaves the windows untrusted
    if (generation === undefined) return;
    // A room that never had a message has a complete, empty history: no messages to read.
    const empty = await this.run(() => this.registry.withoutMessages(rooms));
    await Promise.all([...empty].map((r) => this.window.fill(r, [], generation, true)));
    rooms = rooms.filter((r) => !empty.has(r));
    if (rooms.length === 0) return;
    const limit = rooms.length * this.window.size;
    const started = performance.now();
    this.metrics.historyWindowFilledRooms.inc(rooms.length);
    const docs = await this.run(() => this.messages.find({ room: { $in: rooms } }).sort({ ts: -1, _id: -1 }).limit(limit).lean<MessageDoc[]>()).finally(() =>
      this.metrics.historyWindowFillSeconds.observe((performance.now() - started) / 1000),
    );
    const byRoom = new Map<string, ChatMessage[]>(rooms.map((r) => [r, []]));
    for (const d of docs) byRoom.get(d.room)?.push(toChatMessage(d));
    await Promise.all(rooms.map((r) => this.window.fill(r, byRoom.get(r) ?? [], generation, docs.length < limit)));
  }

  private async loadHistory(room: string, limit: number, before?: string): Promise<ChatMessage[]> {
    this.requireMongo();
    const filter: Record<string, unknown> = { room };
    if (before) {
      const anchor = await this.anchor(room, before);
      filter.$or = [{ ts: { $lt: anchor.ts } }, { ts: anchor.ts, _id: { $lt: anchor._id } }];
    }
    const docs = await this.run(() => this.messages.find(filter).sort({ ts: -1, _id: -1 }).limit(limit).lean<MessageDoc[]>());
    return docs.map(toChatMessage);
  }

  /** Oldest first: what came after `after` (a message id), or the latest page when absent. */
  async since(room: string, after: string | undefined, limit: number): Promise<{ messages: ChatMessage[]; hasMore: boolean }> {
    if (!after) return { messages: (await this.history(room, limit)).reverse(), hasMore: false };
    after = messageId(after);
    const synced = await this.fromWindow(room, after, ({ messages }) => {
      const at = messages.findIndex((m) => m.id === after);
      if (at < 0) return undefined; // older than the window
      // The window holds everything newer than its oldest message, so all of what came after the anchor.
      const newer = messages.slice(at + 1);
      return { messages: newer.slice(0, limit), hasMore: newer.length > limit };
    });
    if (synced) return synced;
    this.requireMongo();
    const anchor = await this.anchor(room, after);
    const docs = await this.run(() =>
      this.messages
        .find({ room, $or: [{ ts: { $gt: anchor.ts } }, { ts: anchor.ts, _id: { $gt: anchor._id } }] })
        .sort({ ts: 1, _id: 1 })
        .limit(limit + 1)
        .lean<MessageDoc[]>(),
    );
    return { messages: docs.slice(0, limit).map(toChatMessage), hasMore: docs.length > limit };
  }

  /** Rooms with the most messages over the last `minutes`, busiest first. */
  async busiestRooms(limit: number, minutes = 10): Promise<string[]> {
    const now = Math.floor(Date.now() / 60_000);
    // Only the warm-up job asks: off the connection sends wait on.
    const p = this.redis.backgroundBatch();
    for (let m = 0; m < minutes; m++) p.zrevrange(this.activityKey(now - m), 0, limit - 1, 'WITHSCORES');
    const totals = new Map<string, number>();
    for (const [err, flat] of (await p.exec()) ?? []) {
      if (err) continue;
      const list = flat as string[];
      for (let i = 0; i < list.length; i += 2) totals.set(list[i], (totals.get(list[i]) ?? 0) + Number(list[i + 1]));
    }
    return [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([room]) => room);
  }

  /** Fills the history windows of the busiest rooms (each costs one database read when it is not trusted). */
  async warmUp(rooms: number): Promise<string[]> {
    const busiest = await this.busiestRooms(rooms);
    await Promise.all(busiest.map((room) => this.history(room, 50))); // untrusted ones are filled in one query
    return busiest;
  }

  /** Per-minute buckets of message counts per room (one key each, so no cross-slot union), counted here and flushed every second. */
  private countActivity(room: string): void {
    this.activity.set(room, (this.activity.get(room) ?? 0) + 1);
  }

  private async flushActivity(): Promise<void> {
    if (this.activity.size === 0) return;
    const counts = this.activity;
    this.activity = new Map();
    const key = this.activityKey(Math.floor(Date.now() / 60_000));
    const p = this.redis.background.pipeline();
    for (const [room, n] of counts) p.zincrby(key, n, room);
    p.pexpire(key, 15 * 60_000);
    // Redis away: these counts are dropped; they only rank rooms for the cache warm-up.
    await this.redis.orLocal('chat.activity', () => p.exec(), () => null);
  }

  private activityKey(minute: number): string {
    return this.keys.plain('rooms', 'activity', String(minute));
  }

  // ---- for the conversations' counts (conversations/room-states.ts) ----

  /** The window generation now (undefined: Redis does not answer). */
  generation(): Promise<number | undefined> {
    return this.window.generation();
  }

  get windowEnabled(): boolean {
    return this.window.enabled;
  }

  /** The key of the room's history window. */
  windowKey(room: string): string {
    return this.window.key(room);
  }

  /** The room's trusted window, filled first when it is not; undefined when it cannot be had (Redis or MongoDB away, window off). */
  trustedWindow(room: string): Promise<{ messages: ChatMessage[]; complete: boolean } | undefined> {
    return this.fromWindow(room, undefined, (w) => w);
  }

  /** A message of the room by id; NOT_FOUND when it is not one (by `_id` alone, no scan). */
  async messageOf(room: string, id: string): Promise<ChatMessage> {
    this.requireMongo();
    return toChatMessage(await this.anchor(room, id));
  }

  /** Messages of others than `userId` in the room up to (ts, id) inclusive. */
  async countOthersUpTo(room: string, userId: string, ts: number, id: string): Promise<number> {
    this.requireMongo();
    const upTo = new Types.ObjectId(messageId(id));
    return this.run(() => this.messages.countDocuments({ room, userId: { $ne: userId }, $or: [{ ts: { $lt: ts } }, { ts, _id: { $lte: upTo } }] }));
  }

  /**
   * Each room's messages per sender: all of them, or those before `before`
   * (ts, id) exclusive. One query for the batch (FerretDB scans the collection
   * once for it, as it does for any query but by `_id`).
   */
  async countBySender(rooms: Array<{ room: string; before?: { ts: number; id: string } }>): Promise<Map<string, Map<string, number>>> {
    this.requireMongo();
    const match = rooms.map(({ room, before }) =>
      before ? { room, $or: [{ ts: { $lt: before.ts } }, { ts: before.ts, _id: { $lt: new Types.ObjectId(messageId(before.id)) } }] } : { room },
    );
    const groups = await this.run(() =>
      this.messages.aggregate<{ _id: { room: string; userId: string }; n: number }>([
        { $match: match.length === 1 ? match[0] : { $or: match } },
        { $group: { _id: { room: '$room', userId: '$userId' }, n: { $sum: 1 } } },
      ]),
    );
    const out = new Map<string, Map<string, number>>(rooms.map(({ room }) => [room, new Map()]));
    for (const g of groups) out.get(g._id.room)?.set(g._id.userId, g.n);
    return out;
  }

  /** The room's newest message from MongoDB (when there is no window to ask). */
  async newestOf(room: string): Promise<ChatMessage | null> {
    this.requireMongo();
    const doc = await this.run(() => this.messages.findOne({ room }).sort({ ts: -1, _id: -1 }).lean<MessageDoc>());
    return doc ? toChatMessage(doc) : null;
  }

  /** Did the user write in the room after `ts`? (a reply cancels a reminder) */
  async hasWritten(room: string, userId: string, ts: number): Promise<boolean> {
    this.requireMongo();
    return (await this.run(() => this.messages.exists({ room, userId, ts: { $gt: ts } }))) !== null;
  }

  private async anchor(room: string, id: string): Promise<MessageDoc> {
    // By _id alone, the room compared here: a filter of _id only is the one a
    // MongoDB-wire store without index use (FerretDB v1) still looks up directly.
    const doc = await this.run(() => this.messages.findOne({ _id: new Types.ObjectId(messageId(id)) }).lean<MessageDoc>());
    if (!doc || doc.room !== room) throw new AppError('NOT_FOUND', `no message ${id} in room ${room}`);
    return doc;
  }

  private requireMongo(): void {
    if (!this.mongo.isUp()) throw new AppError('UNAVAILABLE', 'message storage is unavailable, retry with the same clientMsgId');
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private unavailable(err: unknown): AppError {
    if (err instanceof AppError) return err;
    this.log.warn({ err: (err as Error).message }, 'mongodb operation failed');
    return new AppError('UNAVAILABLE', 'message storage is unavailable, retry with the same clientMsgId');
  }
}

/** A message id as the window stores it (lowercase), or VALIDATION. */
function messageId(id: string): string {
  if (!/^[0-9a-f]{24}$/i.test(id)) throw new AppError('VALIDATION', 'message id must be 24 hex characters');
  return id.toLowerCase();
}

function toChatMessage(doc: MessageDoc): ChatMessage {
  return {
    id: doc._id.toString(),
    room: doc.room,
    userId: doc.userId,
    text: doc.text,
    ts: doc.ts,
    clientMsgId: doc.clientMsgId,
    instance: doc.instance,
  };
}
