import { Schema, type Model } from 'mongoose';
import type { Cache } from '../cache';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import type { MongoConnection } from '../infra/mongo';
import { UserWriteQueue } from './user-writes';

export interface UserDoc {
  _id: string; // the user id
  name: string;
  createdAt: number;
  lastLoginAt: number;
  lastSeen?: number;
}

export interface UserProfile {
  userId: string;
  name: string;
  createdAt: number;
  lastLoginAt: number;
  lastSeen: number | null;
}

const userSchema = new Schema<UserDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    createdAt: { type: Number, required: true },
    lastLoginAt: { type: Number, required: true },
    lastSeen: { type: Number },
  },
  { versionKey: false, collection: 'users' },
);

/**
 * Durable user records in MongoDB: the profile written at login and `lastSeen`
 * written when the user's last device goes offline, so "last seen" survives a
 * Redis flush or outage.
 */
export class UsersService {
  private readonly users: Model<UserDoc>;

  private readonly writes: UserWriteQueue;

  constructor(
    private readonly mongo: MongoConnection,
    private readonly cache: Cache,
    private readonly log: Logger,
    metrics: Metrics,
    writeDeadlineMs = 3000,
    private readonly profileTtlMs = 60_000,
  ) {
    this.users = (mongo.connection.models.User as Model<UserDoc>) ?? mongo.connection.model<UserDoc>('User', userSchema);
    let dropped = 0;
    this.writes = new UserWriteQueue(this.users, {
      maxBatch: 500,
      maxPending: 50_000,
      deadlineMs: writeDeadlineMs,
      loginIntervalMs: 10 * 60_000,
      // Logins arrive one by one: gathered for a quarter second, a steady stream costs a bulk per interval.
      gatherMs: 250,
      // Best-effort updates take at most a tenth of the database's time per
      // replica: on FerretDB an update by _id scans the collection, and a wave
      // of disconnects otherwise kept it busy for minutes while message
      // inserts waited (docs/benchmarks.md). On MongoDB a bulk is quick, so
      // the pauses are too.
      maxUpdateShare: 0.1,
      onUpdateBulk: (seconds) => metrics.userUpdateBulkSeconds.observe(seconds),
      onFlushed: async (userIds) => {
        await Promise.all(userIds.map((userId) => this.cache.invalidate(`user:${userId}`)));
      },
      onError: (err, users) => this.log.warn({ err: err.message, users }, 'could not record logins / lastSeen'),
      onDropped: (userId) => {
        // Logged once per thousand: a database that stopped answering must not flood the log.
        if (dropped++ % 1000 === 0) this.log.warn({ userId, dropped }, 'user write queue full: login / lastSeen not recorded');
      },
    });
  }

  /** Best effort, and never awaited by a login: queued and stored in bulk, skipped while MongoDB is away. */
  recordLogin(userId: string, name: string): void {
    if (!this.mongo.isUp()) return;
    this.writes.login(userId, name, Date.now());
  }

  /** lastSeen only moves forward; queued like logins. */
  markSeen(userId: string, at: number): void {
    if (!this.mongo.isUp()) return;
    this.writes.seen(userId, at);
  }

  /** Waits until the queued login and lastSeen writes are stored (shutdown, tests). */
  flushWrites(): Promise<void> {
    return this.writes.drain();
  }

  /** Cached per user; invalidated when the profile or lastSeen changes. */
  async profile(userId: string): Promise<UserProfile | null> {
    return this.cache.getOrSet(`profile:${userId}`, () => this.loadProfile(userId), { ttlMs: this.profileTtlMs, tags: [`user:${userId}`] });
  }

  private async loadProfile(userId: string): Promise<UserProfile | null> {
    const doc = await this.users.findById(userId).lean<UserDoc>();
    if (!doc) return null;
    return { userId: doc._id, name: doc.name, createdAt: doc.createdAt, lastLoginAt: doc.lastLoginAt, lastSeen: doc.lastSeen ?? null };
  }
}
