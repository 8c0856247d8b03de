import { createHash } from 'node:crypto';
import type { Model } from 'mongoose';
import { DM_ROOM_PREFIX } from '@switchboard/protocol';
import { AppError } from '../infra/errors';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import type { MongoConnection } from '../infra/mongo';
import type { RedisConnections } from '../infra/redis';
import { roomHasMessages } from '../chat/room-registry';
import { MembershipInserts, MembershipInsertTimeout } from './membership-inserts';
import { membershipId, membershipModel, roomSettingsModel, type MembershipDoc, type RoomKind, type RoomSettingsDoc } from './membership.model';

/** A room's kind as readers need it: immutable once created. */
export interface RoomSettings {
  kind: RoomKind;
  /** A direct conversation's two users, sorted. */
  users?: string[];
}

/** A durable membership that began or ended: every replica hears of it (MembershipEvents). */
export interface MembershipChange {
  userId: string;
  room: string;
  change: 'added' | 'removed';
  kind: RoomKind;
  with?: string;
  quiet?: boolean;
  joinedAt: number;
}

/** What a faster store knows of a user's memberships: undefined when it does not know. */
export interface MembershipCache {
  has(userId: string, room: string): Promise<boolean | undefined>;
}

/** How long Redis keeps a room's kind after it was last read from MongoDB (it never changes; this only bounds memory). */
const KIND_TTL_MS = 30 * 24 * 3600_000;
/** Kinds remembered per replica; beyond this the memory starts over (a forgotten kind costs one Redis read). */
const MAX_KNOWN = 100_000;

/** The room both users of a direct conversation use: the same for the pair whichever opens it, within 64 characters. */
export function dmRoomName(a: string, b: string): string {
  const [x, y] = a < b ? [a, b] : [b, a];
  return DM_ROOM_PREFIX + createHash('sha256').update(`${x}\n${y}`).digest('base64url');
}

/**
 * Who may join, read and send in a room, stored durably in MongoDB:
 * `room_settings` (one document per room that was joined or created, its kind:
 * public, private or dm) and `memberships` (one per user and room, `_id`
 * `<userId>|<room>`, with the read position). Public rooms are open to
 * everyone: joining one makes you a member until you leave. Private rooms and
 * direct conversations admit their members only.
 *
 * A room's kind never changes, so it is cached in memory and in Redis
 * (`{room:<name>}:kind`) once read. Memberships of public joins are stored by
 * a group commit (MembershipInserts); every stored or removed membership is
 * reported through `onChange`.
 */
export class RoomAccess {
  private readonly settings: Model<RoomSettingsDoc>;
  readonly memberships: Model<MembershipDoc>;
  private readonly inserts: MembershipInserts;
  private readonly known = new Map<string, RoomSettings>();
  private readonly reading = new Map<string, Promise<RoomSettings | null>>();
  /**
   * Memberships this replica stored or saw (a rejoin costs no insert). Ended
   * ones are forgotten as their events arrive; all are, when Redis (which
   * carries those events) comes back.
   */
  private readonly members = new Set<string>();
  private cache?: MembershipCache;

  constructor(
    private readonly mongo: MongoConnection,
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly log: Logger,
    timeoutMs: number,
    /** Told of every membership stored or removed; the request that made it waits for it. */
    private readonly onChange: (change: MembershipChange) => Promise<void>,
  ) {
    this.settings = roomSettingsModel(mongo.connection);
    this.memberships = membershipModel(mongo.connection);
    redis.on('up', () => this.members.clear());
    this.inserts = new MembershipInserts(this.memberships, {
      maxBatch: 500,
      maxPending: 50_000,
      deadlineMs: timeoutMs,
      onStored: async (doc, created) => {
        this.remember(doc.userId, doc.room);
        if (created) await this.onChange({ userId: doc.userId, room: doc.room, change: 'added', kind: doc.kind, joinedAt: doc.joinedAt });
      },
      onError: (err, n) => this.log.warn({ err: err.message, memberships: n }, 'could not store memberships yet; retrying'),
    });
  }

  /** Membership checks ask this first (the conversations' per-user cache in Redis), then MongoDB. */
  useCache(cache: MembershipCache): void {
    this.cache = cache;
  }

  /** The room's settings, or null for a room nobody joined or created yet. */
  async settingsOf(room: string): Promise<RoomSettings | null> {
    const known = this.known.get(room);
    if (known) return known;
    let reading = this.reading.get(room);
    if (!reading) {
      reading = this.readSettings(room).finally(() => this.reading.delete(room));
      this.reading.set(room, reading);
    }
    return reading;
  }

  private async readSettings(room: string): Promise<RoomSettings | null> {
    const key = this.kindKey(room);
    const cached = await this.redis.orLocal('rooms.kind', () => this.redis.command.get(key), () => null);
    if (cached) return this.learn(room, JSON.parse(cached) as RoomSettings, false);
    const doc = await this.run(() => this.settings.findById(room).lean<RoomSettingsDoc>());
    return doc ? this.learn(room, { kind: doc.kind, ...(doc.users ? { users: doc.users } : {}) }, true) : null;
  }

  private learn(room: string, settings: RoomSettings, toRedis: boolean): RoomSettings {
    if (this.known.size >= MAX_KNOWN) this.known.clear();
    this.known.set(room, settings);
    if (toRedis) {
      this.redis
        .orLocal('rooms.kind', () => this.redis.background.set(this.kindKey(room), JSON.stringify(settings), 'PX', KIND_TTL_MS), () => null)
        .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'could not cache a room kind'));
    }
    return settings;
  }

  /**
   * Admits a user to a room (room:join): a public room (made public by this
   * first join when nobody created it) makes them a member, stored before this
   * answers unless MongoDB takes longer than MONGO_TIMEOUT_MS (then it is
   * stored when MongoDB answers); a private room or a direct conversation
   * needs them to be a member already (FORBIDDEN).
   */
  async join(userId: string, room: string): Promise<RoomSettings> {
    let settings = await this.settingsOf(room);
    if (!settings) {
      if (room.startsWith(DM_ROOM_PREFIX)) throw new AppError('FORBIDDEN', `${room} is not a direct conversation of yours (dm:open makes one)`);
      settings = await this.claim(room, { kind: 'public', createdBy: userId });
    }
    if (settings.kind !== 'public') {
      await this.requireMember(userId, room);
      return settings;
    }
    if (this.members.has(membershipId(userId, room))) return settings;
    // A slow or absent MongoDB does not keep anyone out of a public room: the membership is stored when it answers.
    const stored = this.inserts.insert(newMembership(userId, room, 'public')).catch((err: unknown) => {
      if (!(err instanceof MembershipInsertTimeout)) throw this.unavailable(err);
    });
    if (this.mongo.isUp()) await stored;
    else stored.catch((err: unknown) => this.log.warn({ err: (err as Error).message, room }, 'membership not queued'));
    return settings;
  }

  /** Makes a room nobody made yet; resolves with its settings, those another request made first if one did. */
  private async claim(room: string, fields: { kind: RoomKind; createdBy: string; users?: string[] }): Promise<RoomSettings> {
    const mine = await this.insertSettings(room, fields);
    if (mine) return mine;
    const existing = await this.settingsOf(room);
    if (!existing) throw new AppError('UNAVAILABLE', 'room settings are unavailable, retry');
    return existing;
  }

  /** room:create: a new room and its members, the creator first; FORBIDDEN when the name is taken. */
  async create(userId: string, room: string, isPrivate: boolean, members: string[]): Promise<string[]> {
    if (await this.settingsOf(room)) throw new AppError('FORBIDDEN', `room ${room} exists already`);
    if (await this.run(() => roomHasMessages(this.mongo.connection, room))) throw new AppError('FORBIDDEN', `room ${room} exists already`);
    const kind: RoomKind = isPrivate ? 'private' : 'public';
    if (!(await this.insertSettings(room, { kind, createdBy: userId }))) throw new AppError('FORBIDDEN', `room ${room} exists already`);
    const all = [userId, ...members.filter((m) => m !== userId)];
    await this.addMembers(all.map((u) => newMembership(u, room, kind)));
    return all;
  }

  /** dm:open: the pair's direct conversation, made on first use; both users are its members from then on. */
  async openDm(userId: string, peer: string): Promise<string> {
    if (peer === userId) throw new AppError('VALIDATION', 'userId: a direct conversation needs another user');
    const room = dmRoomName(userId, peer);
    const users = [userId, peer].sort();
    const settings = (await this.settingsOf(room)) ?? (await this.claim(room, { kind: 'dm', createdBy: userId, users }));
    // Two pairs with one hash: never seen for SHA-256, and never served if it happens.
    if (settings?.kind !== 'dm' || settings.users?.join('\n') !== users.join('\n')) throw new AppError('INTERNAL', 'direct conversation name collision');
    await this.addMembers([
      { ...newMembership(userId, room, 'dm'), with: peer },
      { ...newMembership(peer, room, 'dm'), with: userId, quiet: true },
    ]);
    return room;
  }

  /** Inserts a room's settings and returns them; undefined when the room exists already. */
  private async insertSettings(room: string, fields: { kind: RoomKind; createdBy: string; users?: string[] }): Promise<RoomSettings | undefined> {
    try {
      await this.run(() => this.settings.create({ _id: room, createdAt: Date.now(), ...fields }));
    } catch (err) {
      if (!(err instanceof DuplicateKey)) throw err;
      this.known.delete(room);
      return undefined;
    }
    return this.learn(room, { kind: fields.kind, ...(fields.users ? { users: fields.users } : {}) }, true);
  }

  /** Stores memberships (existing ones stay as they are) and reports the new ones. */
  private async addMembers(docs: MembershipDoc[]): Promise<void> {
    let existing = new Set<number>();
    try {
      await this.run(() => this.memberships.insertMany(docs, { ordered: false, lean: true }));
    } catch (err) {
      if (!(err instanceof DuplicateKey)) throw err;
      existing = err.indexes;
    }
    await Promise.all(
      docs.map(async (doc, i) => {
        this.remember(doc.userId, doc.room);
        if (!existing.has(i)) await this.onChange({ userId: doc.userId, room: doc.room, change: 'added', kind: doc.kind, with: doc.with, quiet: doc.quiet, joinedAt: doc.joinedAt });
      }),
    );
  }

  /**
   * room:leave: ends the membership of a public or private room (a private
   * room admits the user no more). Direct conversations are not left: they
   * stay in both users' lists. Resolves true when a membership ended.
   */
  async leave(userId: string, room: string): Promise<boolean> {
    const settings = await this.settingsOf(room);
    if (!settings || settings.kind === 'dm') return false;
    this.members.delete(membershipId(userId, room));
    const { deletedCount } = await this.run(() => this.memberships.deleteOne({ _id: membershipId(userId, room) }));
    if (deletedCount === 0) return false;
    await this.onChange({ userId, room, change: 'removed', kind: settings.kind, joinedAt: 0 });
    return true;
  }

  /** Whether the user is a member of the room (the cache's answer, else MongoDB's). */
  async isMember(userId: string, room: string): Promise<boolean> {
    const cached = await this.cache?.has(userId, room).catch(() => undefined);
    if (cached !== undefined) return cached;
    if (!this.mongo.isUp()) throw new AppError('UNAVAILABLE', 'memberships are unavailable, retry');
    return (await this.run(() => this.memberships.exists({ _id: membershipId(userId, room) }))) !== null;
  }

  /** FORBIDDEN unless the user is a member of the room. */
  async requireMember(userId: string, room: string): Promise<void> {
    if (!(await this.isMember(userId, room))) throw new AppError('FORBIDDEN', `you are not a member of ${room}: room:join it first`);
  }

  /** A membership that ended on any replica: a later join here stores it again. */
  forget(userId: string, room: string): void {
    this.members.delete(membershipId(userId, room));
  }

  private remember(userId: string, room: string): void {
    if (this.members.size >= MAX_KNOWN) this.members.clear();
    this.members.add(membershipId(userId, room));
  }

  private kindKey(room: string): string {
    return this.keys.tagged('room', room, 'kind');
  }

  /** Runs a MongoDB operation: duplicate keys throw DuplicateKey, anything else UNAVAILABLE. */
  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (!this.mongo.isUp()) throw new AppError('UNAVAILABLE', 'room settings are unavailable, retry');
    try {
      return await op();
    } catch (err) {
      const listed = (err as { writeErrors?: Array<{ index: number; code?: number; err?: { index: number; code?: number } }> }).writeErrors;
      const failures = (listed ?? []).map((e) => e.err ?? e);
      if (failures.length === 0 && (err as { code?: number }).code === 11000) throw new DuplicateKey(new Set([0]));
      if (failures.length > 0 && failures.every((f) => f.code === 11000)) throw new DuplicateKey(new Set(failures.map((f) => f.index)));
      throw this.unavailable(err);
    }
  }

  private unavailable(err: unknown): AppError {
    if (err instanceof AppError) return err;
    this.log.warn({ err: (err as Error).message }, 'mongodb operation on rooms failed');
    return new AppError('UNAVAILABLE', 'room settings are unavailable, retry');
  }
}

/** The documents of an insert whose keys existed already (by index; 0 for a single insert). */
class DuplicateKey extends Error {
  constructor(readonly indexes: Set<number>) {
    super('duplicate key');
  }
}

function newMembership(userId: string, room: string, kind: RoomKind): MembershipDoc {
  return { _id: membershipId(userId, room), userId, room, kind, joinedAt: Date.now(), readId: '', readTs: 0 };
}
