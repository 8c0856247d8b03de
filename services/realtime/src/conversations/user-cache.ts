import type { Model } from 'mongoose';
import { AppError } from '../infra/errors';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import { luaScript, type RunnerOf } from '../infra/lua-scripts';
import type { Metrics } from '../infra/metrics';
import type { MongoConnection } from '../infra/mongo';
import type { RedisConnections } from '../infra/redis';
import type { MembershipCache, MembershipChange } from '../rooms/access';
import type { MembershipDoc, RoomKind } from '../rooms/membership.model';
import { USER_CACHE_TTL_MS, userRoomsKey, userVersionKey } from './keys';

/** A conversation as the cache keeps it: the membership's kind, the other user of a DM, whether it waits for a first message, when it began. */
export interface Membership {
  kind: RoomKind;
  with?: string;
  quiet?: boolean;
  joinedAt: number;
}

const BUILD = luaScript<[rooms: string, version: string], [versionSeen: string, generation: string, ttlMs: number, ...roomsAndJson: string[]], 0 | 1>(
  'conversations',
  'user-cache-build',
  2,
);
const CHANGE = luaScript<[rooms: string, version: string], [generation: string, room: string, json: string, ttlMs: number], 1>('conversations', 'user-cache-change', 2);

/** Rebuilds that lost a race with a membership change are tried again this often before the list is read from MongoDB alone. */
const BUILD_ATTEMPTS = 3;

/**
 * Each user's conversations (their memberships) in Redis, `{uc:<user>}:rooms`:
 * built from MongoDB when missing, written through on every membership
 * change, and trusted only under the window generation it was built in (a
 * replica that could not write a change to Redis bumps that generation when it
 * reconnects, see chat/recent-window.ts), so a cache that may have missed a
 * change is rebuilt rather than believed. It holds no message state: the
 * rooms' last messages and counts live in the rooms' own state, combined when
 * the list is read (room-states.ts).
 */
export class UserConversations implements MembershipCache {
  private readonly build: RunnerOf<typeof BUILD>;
  private readonly change: RunnerOf<typeof CHANGE>;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly mongo: MongoConnection,
    private readonly memberships: Model<MembershipDoc>,
    private readonly generation: () => Promise<number | undefined>,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.build = BUILD.on(redis.command);
    this.change = CHANGE.on(redis.background);
  }

  /** From a cache of this generation: whether the user is a member; undefined when there is no such cache (or Redis is away). */
  async has(userId: string, room: string): Promise<boolean | undefined> {
    return this.redis.orLocal(
      'conversations.member',
      async () => {
        const [generation, [mark, entry]] = await Promise.all([this.generation(), this.redis.command.hmget(userRoomsKey(this.keys, userId), '!g', room)]);
        if (generation === undefined || mark !== String(generation)) return undefined;
        return entry !== null;
      },
      () => undefined,
    );
  }

  /** The user's memberships by room: the cache when it is of this generation, else rebuilt from MongoDB (UNAVAILABLE without it). */
  async load(userId: string): Promise<Map<string, Membership>> {
    const generation = await this.generation();
    if (generation === undefined) throw new AppError('UNAVAILABLE', 'conversations are unavailable while Redis is, retry');
    const key = userRoomsKey(this.keys, userId);
    const cached = await this.redis.command.hgetall(key);
    if (cached['!g'] === String(generation)) {
      this.redis.orLocal('conversations.touch', () => this.redis.background.pexpire(key, USER_CACHE_TTL_MS), () => 0).catch(() => undefined);
      const out = new Map<string, Membership>();
      for (const [room, json] of Object.entries(cached)) if (room !== '!g') out.set(room, JSON.parse(json) as Membership);
      return out;
    }
    return this.rebuild(userId, generation);
  }

  private async rebuild(userId: string, generation: number): Promise<Map<string, Membership>> {
    if (!this.mongo.isUp()) throw new AppError('UNAVAILABLE', 'conversations are unavailable while MongoDB is, retry');
    this.metrics.conversationCacheBuilds.inc();
    for (let attempt = 1; ; attempt++) {
      const version = (await this.redis.command.get(userVersionKey(this.keys, userId))) ?? '';
      let docs: MembershipDoc[];
      try {
        docs = await this.memberships.find({ userId }).lean<MembershipDoc[]>();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'could not read memberships');
        throw new AppError('UNAVAILABLE', 'conversations are unavailable while MongoDB is, retry');
      }
      const out = new Map(docs.map((d) => [d.room, toMembership(d)]));
      const args = [...out].flatMap(([room, m]) => [room, JSON.stringify(m)]);
      const written = await this.build([userRoomsKey(this.keys, userId), userVersionKey(this.keys, userId)], [version, String(generation), USER_CACHE_TTL_MS, ...args]);
      if (written === 1 || attempt >= BUILD_ATTEMPTS) return out;
    }
  }

  /** Writes a membership change through (on the replica that made it). Redis away: the generation bump on reconnect covers it. */
  async changed(c: MembershipChange): Promise<void> {
    const generation = await this.generation();
    const json = c.change === 'added' ? JSON.stringify(toMembership({ kind: c.kind, with: c.with, quiet: c.quiet, joinedAt: c.joinedAt })) : '';
    await this.redis.orLocal(
      'conversations.change',
      () => this.change([userRoomsKey(this.keys, c.userId), userVersionKey(this.keys, c.userId)], [String(generation ?? ''), c.room, json, USER_CACHE_TTL_MS]),
      () => 0,
    );
  }
}

function toMembership(d: Pick<MembershipDoc, 'kind' | 'with' | 'quiet' | 'joinedAt'>): Membership {
  return { kind: d.kind, ...(d.with ? { with: d.with } : {}), ...(d.quiet ? { quiet: true } : {}), joinedAt: d.joinedAt };
}
