import { Schema, type Model } from 'mongoose';
import type { Cache } from '../cache';
import type { Logger } from '../infra/logger';
import type { MongoConnection } from '../infra/mongo';

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

  constructor(
    private readonly mongo: MongoConnection,
    private readonly cache: Cache,
    private readonly log: Logger,
    private readonly profileTtlMs = 60_000,
  ) {
    this.users = (mongo.connection.models.User as Model<UserDoc>) ?? mongo.connection.model<UserDoc>('User', userSchema);
  }

  /** Best effort: a login still works while MongoDB is away. */
  async recordLogin(userId: string, name: string): Promise<void> {
    if (!this.mongo.isUp()) return;
    const now = Date.now();
    await this.users
      .updateOne({ _id: userId }, { $set: { name, lastLoginAt: now }, $setOnInsert: { createdAt: now } }, { upsert: true })
      .catch((err: Error) => this.log.warn({ err: err.message, userId }, 'could not record login'));
    await this.cache.invalidate(`user:${userId}`);
  }

  async markSeen(userId: string, at: number): Promise<void> {
    if (!this.mongo.isUp()) return;
    await this.users
      .updateOne({ _id: userId, $or: [{ lastSeen: { $exists: false } }, { lastSeen: { $lt: at } }] }, { $set: { lastSeen: at } })
      .catch((err: Error) => this.log.warn({ err: err.message, userId }, 'could not record lastSeen'));
    await this.cache.invalidate(`user:${userId}`);
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
