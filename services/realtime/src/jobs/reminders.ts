import { Schema, type Model } from 'mongoose';
import type { Job } from 'bullmq';
import type { ChatService } from '../chat';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import type { MongoConnection } from '../infra/mongo';
import { throwOnMultiError, type RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import type { PresenceService } from '../presence';
import type { RoomAccess } from '../rooms/access';
import { mentionsIn, type ChatMessage, type Reminder } from '@switchboard/protocol';
import type { JobQueue } from './index';

/** How long the stored-reminder lookup after a quiet spell waits for more connects to join it. */
const STORED_LOOKUP_GATHER_MS = 200;

interface ReminderDoc extends Omit<Reminder, 'id'> {
  _id: string;
  deliveredAt: number | null;
}

const reminderSchema = new Schema<ReminderDoc>(
  {
    _id: { type: String, required: true },
    to: { type: String, required: true, index: true },
    from: String,
    room: String,
    messageId: String,
    text: String,
    // The cleanup job deletes by it (FerretDB, the local MongoDB stand-in, has no TTL index).
    mentionedAt: { type: Number, index: true },
    deliveredAt: { type: Number, default: null },
  },
  { versionKey: false, collection: 'reminders' },
);

/**
 * The set of a user's pending reminder job ids in a room, under the room's
 * hash tag: the send's window script (chat/) takes it in the same call as it
 * adds the user's next message there, so answering costs no round trip of its own.
 */
export function pendingRemindersKey(keys: Keyspace, room: string, userId: string): string {
  return keys.tagged('room', room, 'reminders', userId);
}

/**
 * Response reminders: a message that mentions @user, a member of the room,
 * schedules a delayed job; if that user writes in the room before it fires,
 * it is cancelled. When it fires it goes to the user's devices if they are
 * online, otherwise it is kept in MongoDB and delivered when they next
 * connect. Kept reminders are deleted `retentionMs` after their mention
 * (pruneExpired, from the cleanup job), delivered or not.
 *
 * A message mentions at most MENTIONS_PER_MESSAGE_MAX users (its schema), and
 * only the room's members among them (its durable members, online or not: an
 * offline member's reminder is kept for them) get a job and a pending set: a
 * mention of anyone else costs one membership lookup.
 *
 * Key: {room:<room>}:reminders:<userId> set of pending job ids (pendingRemindersKey).
 */
export class Reminders {
  private readonly stored: Model<ReminderDoc>;
  /** Users who connected since the last stored-reminder lookup started. */
  private readonly connected = new Set<string>();
  private lookingUp = false;

  constructor(
    private readonly jobs: JobQueue,
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly chat: ChatService,
    private readonly presence: PresenceService,
    /** Who is a member of a room: its durable memberships (rooms/access.ts). */
    private readonly access: Pick<RoomAccess, 'isMember'>,
    private readonly mongo: MongoConnection,
    private readonly opts: { delayMs: number; retentionMs: number },
    private readonly deliver: (reminder: Reminder) => void,
    private readonly log: Logger,
  ) {
    this.stored = (mongo.connection.models.Reminder as Model<ReminderDoc>) ?? mongo.connection.model<ReminderDoc>('Reminder', reminderSchema);
    jobs.handle('reminder', (job) => this.fire(job));
  }

  /**
   * Called after a message is broadcast, with the sender's pending reminders
   * in the room that its send took (`answered`): cancels those, and schedules
   * one per user the text mentions. Neither costs anything when there is
   * nothing to do, which is most messages.
   */
  async onMessage(msg: ChatMessage, answered: readonly string[]): Promise<void> {
    try {
      if (answered.length > 0) await Promise.all(answered.map((id) => this.jobs.remove(id)));
      const mentioned = mentionsIn(msg.text).filter((to) => to !== msg.userId);
      if (mentioned.length === 0) return;
      for (const to of mentioned) {
        // A membership that cannot be read (MongoDB down, no cached list) skips that reminder, never the message.
        const member = await this.access.isMember(to, msg.room).catch((err: unknown) => {
          this.log.warn({ err: (err as Error).message, messageId: msg.id, to }, 'could not check a mentioned user\'s membership');
          return false;
        });
        if (!member) continue;
        const id = `reminder-${msg.id}-${to}`;
        const data: Reminder = { id, to, from: msg.userId, room: msg.room, messageId: msg.id, text: msg.text.slice(0, 200), mentionedAt: msg.ts };
        await this.jobs.add('reminder', data, { jobId: id, delay: this.opts.delayMs, attempts: 5 });
        const key = this.pendingKey(msg.room, to);
        await this.redis.background.multi().sadd(key, id).pexpire(key, this.opts.delayMs * 2 + 60_000).exec().then(throwOnMultiError);
      }
    } catch (err) {
      // Reminders are a convenience: a Redis outage skips them, never the message.
      if (!isRedisUnavailable(err)) throw err;
      this.log.warn({ err: (err as Error).message, messageId: msg.id }, 'could not schedule reminders');
    }
  }

  /**
   * Queues the delivery of the reminders kept for a user who was offline when
   * they fired. Connects come in storms: the users connecting while one lookup
   * runs are looked up together in the next one (one `$in` query per batch),
   * so a reconnect wave costs MongoDB a few queries, not one per socket. The
   * first connect after a quiet spell waits STORED_LOOKUP_GATHER_MS for others
   * to join it, so a steady stream of connects costs a query per interval.
   */
  deliverStoredOnConnect(userId: string): void {
    this.connected.add(userId);
    if (this.lookingUp) return;
    this.lookingUp = true;
    setTimeout(() => void this.lookUpStored(), STORED_LOOKUP_GATHER_MS).unref();
  }

  private async lookUpStored(): Promise<void> {
    this.lookingUp = true;
    try {
      while (this.connected.size > 0) {
        const users: string[] = [];
        for (const u of this.connected) {
          if (users.length === 500) break;
          users.push(u);
        }
        for (const u of users) this.connected.delete(u);
        // MongoDB or Redis away: the reminders stay stored and go out at the user's next connect.
        await this.deliverStored(users).catch((err: Error) => this.log.debug({ err: err.message, users: users.length }, 'stored reminders not delivered'));
      }
    } finally {
      this.lookingUp = false;
    }
  }

  /** Sends the kept reminders of these users (at most 100 each), oldest first, and marks them delivered. */
  async deliverStored(userIds: string[]): Promise<number> {
    if (!this.mongo.isUp() || userIds.length === 0) return 0;
    const docs = await this.stored.find({ to: { $in: userIds }, deliveredAt: null }).sort({ mentionedAt: 1 }).limit(100 * userIds.length).lean<ReminderDoc[]>();
    const perUser = new Map<string, number>();
    let delivered = 0;
    for (const d of docs) {
      const n = perUser.get(d.to) ?? 0;
      if (n >= 100) continue;
      perUser.set(d.to, n + 1);
      this.deliver({ id: d._id, to: d.to, from: d.from, room: d.room, messageId: d.messageId, text: d.text, mentionedAt: d.mentionedAt });
      await this.stored.updateOne({ _id: d._id }, { $set: { deliveredAt: Date.now() } });
      delivered++;
    }
    return delivered;
  }

  /** Deletes the kept reminders mentioned more than `retentionMs` ago (the cleanup job); MongoDB away: none, until the next run. */
  async pruneExpired(): Promise<number> {
    if (!this.mongo.isUp()) return 0;
    const { deletedCount } = await this.stored.deleteMany({ mentionedAt: { $lt: Date.now() - this.opts.retentionMs } });
    return deletedCount;
  }

  private async fire(job: Job): Promise<string> {
    const r = job.data as Reminder;
    // Redis away: the pending entry expires by itself.
    await this.redis.orLocal('reminders.unmark', () => this.redis.background.srem(this.pendingKey(r.room, r.to), r.id), () => 0);
    if (await this.chat.hasWritten(r.room, r.to, r.mentionedAt)) return 'answered';
    const state = await this.presence.stateOf(r.to);
    if (state.online) {
      this.deliver(r);
      return 'delivered';
    }
    await this.stored.updateOne({ _id: r.id }, { $setOnInsert: { ...r, _id: r.id, deliveredAt: null } }, { upsert: true });
    return 'stored';
  }

  private pendingKey(room: string, userId: string): string {
    return pendingRemindersKey(this.keys, room, userId);
  }
}
