import type { ChainableCommander } from 'ioredis';
import type { Keyspace } from '../infra/keys';
import type { RedisConnections } from '../infra/redis';
import { scanEveryPrimary } from '../infra/redis-topology';
import type { RefreshContributor } from '../presence';

export interface RoomMembers {
  members: string[];
  /** true: this replica's own members only (Redis is unavailable). */
  degraded: boolean;
}

interface LocalMembership {
  userId: string;
  rooms: Set<string>;
}

/**
 * Room membership across replicas.
 *
 * Key: {room:<name>}:members (or {region:<geohash>}:members)  zset "<nodeId>:<socketId>:<userId>" scored by
 * expiry, refreshed with presence (same pipeline) and pruned on read, so the
 * members of a dead replica disappear by themselves after the presence TTL.
 * Socket.IO rooms do the delivery; this is the queryable list.
 */
export class RoomsService implements RefreshContributor {
  private readonly local = new Map<string, LocalMembership>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly nodeId: string,
    private readonly ttlMs: number,
    /** 'room' for chat rooms, 'region' for geohash cells: same mechanics, separate keys. */
    private readonly kind: 'room' | 'region' = 'room',
  ) {}

  isMember(socketId: string, room: string): boolean {
    return this.local.get(socketId)?.rooms.has(room) ?? false;
  }

  roomsOf(socketId: string): string[] {
    return [...(this.local.get(socketId)?.rooms ?? [])];
  }

  /** Records the membership and returns the room's online members (user ids). */
  async join(socketId: string, userId: string, room: string): Promise<string[]> {
    const entry = this.local.get(socketId) ?? { userId, rooms: new Set<string>() };
    entry.rooms.add(room);
    this.local.set(socketId, entry);
    const key = this.membersKey(room);
    const expiresAt = Date.now() + this.ttlMs;
    return this.redis.orLocal(
      `${this.kind}.join`,
      async () => {
        const [, , members] = (await this.redis
          .batch()
          .zadd(key, expiresAt, this.member(socketId, userId))
          .pexpireat(key, expiresAt)
          .zrangebyscore(key, `(${Date.now()}`, '+inf')
          .zadd(this.activeKey(), 'GT', expiresAt, room)
          .exec()) as Array<[Error | null, unknown]>;
        if (members[0]) throw members[0];
        return uniqueUsers(members[1] as string[]);
      },
      () => this.localMembers(room),
    );
  }

  /** Returns true when the user has no other connection left in the room. */
  async leave(socketId: string, room: string): Promise<boolean> {
    const entry = this.local.get(socketId);
    if (!entry?.rooms.delete(room)) return false;
    if (entry.rooms.size === 0) this.local.delete(socketId);
    return this.removeEntry(socketId, entry.userId, room);
  }

  /** Leaves every room (disconnect); returns the rooms the user has left entirely. */
  async leaveAll(socketId: string): Promise<string[]> {
    const entry = this.local.get(socketId);
    if (!entry) return [];
    this.local.delete(socketId);
    const gone: string[] = [];
    for (const room of entry.rooms) if (await this.removeEntry(socketId, entry.userId, room)) gone.push(room);
    return gone;
  }

  async members(room: string): Promise<RoomMembers> {
    return this.redis.orLocal<RoomMembers>(
      `${this.kind}.members`,
      async () => ({ members: uniqueUsers(await this.redis.command.zrangebyscore(this.membersKey(room), `(${Date.now()}`, '+inf')), degraded: false }),
      () => ({ members: this.localMembers(room), degraded: true }),
    );
  }

  /** Members of several rooms in one round trip (a region and its neighbours). */
  async membersOfMany(rooms: string[]): Promise<Record<string, string[]>> {
    const now = Date.now();
    return this.redis.orLocal(
      `${this.kind}.members`,
      async () => {
        const p = this.redis.batch();
        for (const room of rooms) p.zrangebyscore(this.membersKey(room), `(${now}`, '+inf');
        const res = (await p.exec()) ?? [];
        return Object.fromEntries(
          rooms.map((room, i) => {
            if (res[i]?.[0]) throw res[i][0];
            return [room, uniqueUsers(res[i]?.[1] as string[])];
          }),
        );
      },
      () => Object.fromEntries(rooms.map((room) => [room, this.localMembers(room)])),
    );
  }

  contributeRefresh(p: ChainableCommander, socketId: string, expiresAt: number): void {
    const entry = this.local.get(socketId);
    if (!entry) return;
    for (const room of entry.rooms) {
      const key = this.membersKey(room);
      p.zadd(key, expiresAt, this.member(socketId, entry.userId));
      p.pexpireat(key, expiresAt);
      p.zadd(this.activeKey(), 'GT', expiresAt, room);
    }
  }

  /** Maintenance: prunes expired members and deletes rooms nobody is in any more. */
  async pruneEmptyRooms(): Promise<number> {
    const cmd = this.redis.command;
    const now = Date.now();
    let deleted = 0;
    for await (const batch of scanEveryPrimary(cmd, this.keys.tagged(this.kind, '*', 'members'))) {
      for (const key of batch) {
        // Redis deletes a sorted set when its last member goes, so pruning is
        // the deletion, atomically: no race with a member joining meanwhile.
        const [[, pruned], [, left]] = (await cmd.pipeline().zremrangebyscore(key, '-inf', now).exists(key).exec()) as Array<[Error | null, number]>;
        if (pruned > 0 && left === 0) deleted++;
      }
    }
    await cmd.zremrangebyscore(this.activeKey(), '-inf', now);
    return deleted;
  }

  /** How many rooms have a live member anywhere (for /api/stats). */
  async activeCount(): Promise<number> {
    const key = this.activeKey();
    await this.redis.command.zremrangebyscore(key, '-inf', Date.now());
    return this.redis.command.zcard(key);
  }

  private activeKey(): string {
    return this.keys.plain(`${this.kind}s`, 'active');
  }

  private async removeEntry(socketId: string, userId: string, room: string): Promise<boolean> {
    const stillLocal = this.localMembers(room).includes(userId);
    const key = this.membersKey(room);
    return this.redis.orLocal(
      `${this.kind}.leave`,
      async () => {
        const [, , rest] = (await this.redis.command
          .pipeline()
          .zrem(key, this.member(socketId, userId))
          .zremrangebyscore(key, '-inf', Date.now())
          .zrange(key, 0, -1)
          .exec()) as Array<[Error | null, unknown]>;
        if (rest[0]) throw rest[0];
        return !uniqueUsers(rest[1] as string[]).includes(userId);
      },
      () => !stillLocal,
    );
  }

  private localMembers(room: string): string[] {
    const users = new Set<string>();
    for (const m of this.local.values()) if (m.rooms.has(room)) users.add(m.userId);
    return [...users];
  }

  private member(socketId: string, userId: string): string {
    return `${this.nodeId}:${socketId}:${userId}`;
  }

  private membersKey(room: string): string {
    return this.keys.tagged(this.kind, room, 'members');
  }
}

/** "<nodeId>:<socketId>:<userId>" -> unique user ids (user ids contain no colon). */
export function uniqueUsers(members: string[]): string[] {
  return [...new Set(members.map((m) => m.slice(m.lastIndexOf(':') + 1)))];
}
