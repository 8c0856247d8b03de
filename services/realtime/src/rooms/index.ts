import type { ChainableCommander } from 'ioredis';
import type { Keyspace } from '../infra/keys';
import { throwOnMultiError, type RedisConnections } from '../infra/redis';
import { scanEveryPrimary } from '../infra/redis-topology';
import { BACKSTOP_MS, type NodeLiveness, type RefreshContributor } from '../presence';

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
 * Keys:
 *   {room:<name>}:members (or {region:<geohash>}:members)  zset "<nodeId>:<socketId>:<userId>" scored by backstop expiry
 *   {node:<nodeId>}:rooms (or :regions)  hash "<room>\n<socketId>" -> userId: the node's memberships, for the sweeper
 *   rooms:active (or regions:active)     zset room scored by its latest member's backstop expiry; a room leaves it when it empties
 *
 * Like presence, an entry counts while its node's heartbeat does (NodeLiveness):
 * readers skip a dead replica's members at once, and the presence sweeper
 * removes them (sweepNode). Socket.IO rooms do the delivery; this is the queryable list.
 */
export class RoomsService implements RefreshContributor {
  private readonly local = new Map<string, LocalMembership>();
  /** Per room, this replica's users in it and how many of their sockets: a leave asks it without a walk over every socket. */
  private readonly localByRoom = new Map<string, Map<string, number>>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly nodeId: string,
    /** Whose entries count (PresenceService.isLive). */
    private readonly isLive: NodeLiveness,
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
    if (!entry.rooms.has(room)) this.countLocal(room, userId, 1);
    entry.rooms.add(room);
    this.local.set(socketId, entry);
    return this.redis.orLocal(
      `${this.kind}.join`,
      async () => {
        const p = this.redis.batch();
        this.writeMembership(p, socketId, userId, room, Date.now() + BACKSTOP_MS);
        p.zrangebyscore(this.membersKey(room), `(${Date.now()}`, '+inf');
        const results = throwOnMultiError(await p.exec());
        return this.liveUsers(results.at(-1)![1] as string[]);
      },
      () => this.localMembers(room),
    );
  }

  /** Returns true when the user has no other connection left in the room. */
  async leave(socketId: string, room: string): Promise<boolean> {
    const entry = this.local.get(socketId);
    if (!entry?.rooms.delete(room)) return false;
    this.countLocal(room, entry.userId, -1);
    if (entry.rooms.size === 0) this.local.delete(socketId);
    return this.removeEntry(socketId, entry.userId, room);
  }

  /** Leaves every room (disconnect); returns the rooms the user has left entirely. */
  async leaveAll(socketId: string): Promise<string[]> {
    const entry = this.local.get(socketId);
    if (!entry) return [];
    this.local.delete(socketId);
    for (const room of entry.rooms) this.countLocal(room, entry.userId, -1);
    const gone: string[] = [];
    for (const room of entry.rooms) if (await this.removeEntry(socketId, entry.userId, room)) gone.push(room);
    return gone;
  }

  async members(room: string): Promise<RoomMembers> {
    return this.redis.orLocal<RoomMembers>(
      `${this.kind}.members`,
      async () => ({ members: this.liveUsers(await this.redis.command.zrangebyscore(this.membersKey(room), `(${Date.now()}`, '+inf')), degraded: false }),
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
        const res = throwOnMultiError(await p.exec());
        return Object.fromEntries(rooms.map((room, i) => [room, this.liveUsers(res[i][1] as string[])]));
      },
      () => Object.fromEntries(rooms.map((room) => [room, this.localMembers(room)])),
    );
  }

  contributeRefresh(p: ChainableCommander, socketId: string, expiresAt: number): void {
    const entry = this.local.get(socketId);
    if (!entry) return;
    for (const room of entry.rooms) this.writeMembership(p, socketId, entry.userId, room, expiresAt);
  }

  /** The presence sweeper: removes a dead node's memberships, and the rooms they leave empty from the active list. */
  async sweepNode(nodeId: string): Promise<void> {
    const bg = this.redis.background;
    const index = this.nodeIndexKey(nodeId);
    const memberships = Object.entries(await bg.hgetall(index)).map(([field, userId]) => {
      const [room, socketId] = field.split('\n');
      return { room, member: `${nodeId}:${socketId}:${userId}` };
    });
    const rooms = [...new Set(memberships.map((m) => m.room))];
    if (rooms.length > 0) {
      const p = this.redis.backgroundBatch();
      for (const m of memberships) p.zrem(this.membersKey(m.room), m.member);
      for (const room of rooms) p.exists(this.membersKey(room));
      const res = throwOnMultiError(await p.exec()).slice(memberships.length);
      const emptied = rooms.filter((_, i) => res[i][1] === 0);
      if (emptied.length > 0) await bg.zrem(this.activeKey(), ...emptied);
    }
    await bg.del(index);
  }

  /** After a full re-assertion: removes this node's memberships that ended while Redis was away. */
  async reconcile(): Promise<void> {
    const index = this.nodeIndexKey(this.nodeId);
    const stale = Object.entries(await this.redis.background.hgetall(index)).filter(([field]) => {
      const [room, socketId] = field.split('\n');
      return !this.local.get(socketId)?.rooms.has(room);
    });
    if (stale.length === 0) return;
    const p = this.redis.backgroundBatch();
    for (const [field, userId] of stale) {
      const [room, socketId] = field.split('\n');
      p.zrem(this.membersKey(room), this.member(socketId, userId));
      p.hdel(index, field);
    }
    throwOnMultiError(await p.exec());
  }

  /** Maintenance: prunes members past their backstop and deletes rooms nobody is in any more. */
  async pruneEmptyRooms(): Promise<number> {
    const bg = this.redis.background;
    const now = Date.now();
    let deleted = 0;
    for await (const batch of scanEveryPrimary(bg, this.keys.tagged(this.kind, '*', 'members'))) {
      for (const key of batch) {
        // Redis deletes a sorted set when its last member goes, so pruning is
        // the deletion, atomically: no race with a member joining meanwhile.
        const [[, pruned], [, left]] = (await bg.pipeline().zremrangebyscore(key, '-inf', now).exists(key).exec()) as Array<[Error | null, number]>;
        if (pruned > 0 && left === 0) deleted++;
      }
    }
    await bg.zremrangebyscore(this.activeKey(), '-inf', now);
    return deleted;
  }

  /** How many rooms have a member anywhere (for /api/stats). */
  async activeCount(): Promise<number> {
    const key = this.activeKey();
    await this.redis.command.zremrangebyscore(key, '-inf', Date.now());
    return this.redis.command.zcard(key);
  }

  private activeKey(): string {
    return this.keys.plain(`${this.kind}s`, 'active');
  }

  private writeMembership(p: ChainableCommander, socketId: string, userId: string, room: string, expiresAt: number): void {
    const key = this.membersKey(room);
    p.zadd(key, expiresAt, this.member(socketId, userId));
    p.pexpireat(key, expiresAt);
    p.zadd(this.activeKey(), 'GT', expiresAt, room);
    const index = this.nodeIndexKey(this.nodeId);
    p.hset(index, `${room}\n${socketId}`, userId);
    p.pexpire(index, BACKSTOP_MS);
  }

  private async removeEntry(socketId: string, userId: string, room: string): Promise<boolean> {
    const stillLocal = this.localByRoom.get(room)?.has(userId) ?? false;
    const key = this.membersKey(room);
    return this.redis.orLocal(
      `${this.kind}.leave`,
      async () => {
        const [, , [, rest]] = throwOnMultiError(
          await this.redis
            .batch()
            .zrem(key, this.member(socketId, userId))
            .zremrangebyscore(key, '-inf', Date.now())
            .zrange(key, 0, -1)
            .hdel(this.nodeIndexKey(this.nodeId), `${room}\n${socketId}`)
            .exec(),
        );
        const members = rest as string[];
        if (members.length === 0) await this.redis.command.zrem(this.activeKey(), room);
        return !this.liveUsers(members).includes(userId);
      },
      () => !stillLocal,
    );
  }

  /** The users of "<nodeId>:<socketId>:<userId>" members whose node is live (user ids contain no colon). */
  private liveUsers(members: string[]): string[] {
    const users = new Set<string>();
    for (const m of members) {
      const userAt = m.lastIndexOf(':');
      const nodeId = m.slice(0, m.lastIndexOf(':', userAt - 1));
      if (this.isLive(nodeId)) users.add(m.slice(userAt + 1));
    }
    return [...users];
  }

  private localMembers(room: string): string[] {
    return [...(this.localByRoom.get(room)?.keys() ?? [])];
  }

  private countLocal(room: string, userId: string, by: 1 | -1): void {
    let users = this.localByRoom.get(room);
    if (!users) this.localByRoom.set(room, (users = new Map()));
    const sockets = (users.get(userId) ?? 0) + by;
    if (sockets > 0) users.set(userId, sockets);
    else users.delete(userId);
    if (users.size === 0) this.localByRoom.delete(room);
  }

  private member(socketId: string, userId: string): string {
    return `${this.nodeId}:${socketId}:${userId}`;
  }

  private membersKey(room: string): string {
    return this.keys.tagged(this.kind, room, 'members');
  }

  private nodeIndexKey(nodeId: string): string {
    return this.keys.tagged('node', nodeId, `${this.kind}s`);
  }
}

/** "<nodeId>:<socketId>:<userId>" -> unique user ids (user ids contain no colon). */
export function uniqueUsers(members: string[]): string[] {
  return [...new Set(members.map((m) => m.slice(m.lastIndexOf(':') + 1)))];
}
