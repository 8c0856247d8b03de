import type { ChainableCommander } from 'ioredis';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import { luaScript, type RunnerOf } from '../infra/lua-scripts';
import type { Metrics } from '../infra/metrics';
import { throwOnMultiError, type RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import { STATUSES, type PresenceUpdate, type Status } from '@switchboard/protocol';

export interface OnlineUser {
  userId: string;
  status: Status;
  devices: number;
}

/** One user's presence; `degraded`: from this replica's own connections (Redis is unavailable). */
export interface UserState {
  online: boolean;
  devices: number;
  status: Status | 'offline';
  degraded: boolean;
}

interface LocalConnection {
  userId: string;
  /** Which tick of the refresh round writes this connection (see refresh). */
  slice: number;
}

/**
 * The refresh round (PRESENCE_REFRESH_MS) is spread over this many ticks, each
 * writing the connections of one slice. One pipeline for every connection
 * per round stalled a loaded replica (docs/benchmarks.md): building and
 * parsing its commands blocks the event loop, and the chat sends queue behind
 * them on the same Redis connection.
 */
const REFRESH_SLICES = 10;
/** Most connections per pipeline, so even a full refresh lets other commands through between pipelines. */
const REFRESH_CHUNK = 250;

/** Lets other capabilities (rooms) refresh their per-connection entries in the same batch (RedisConnections.batch). */
export interface RefreshContributor {
  contributeRefresh(pipeline: ChainableCommander, socketId: string, expiresAt: number): void;
  /** Called by the sweeper for each connection of a dead node. */
  sweepConnection?(pipeline: ChainableCommander, nodeId: string, socketId: string, userId: string): void;
}

const REMOVE_CONNECTION = luaScript<[conns: string], [member: string, now: number], [expiry: string, left: number]>('presence', 'remove-connection', 1);
const REMOVE_USER_IF_NOT_NEWER = luaScript<[users: string], [userId: string, expiry: string], 0 | 1>('presence', 'remove-user-if-not-newer', 1);

/**
 * Presence per connection, not per user: a user is online while any of their
 * connections is, and a dead replica's connections expire on their own.
 *
 * Keys (prefix omitted):
 *   {u:<userId>}:conns     zset  "<nodeId>:<socketId>" scored by expiry (ms)
 *   {u:<userId>}:status    string online|away|busy, expires with the user's presence
 *   presence:users         zset  userId scored by their latest connection expiry
 *   presence:nodes         zset  nodeId scored by its heartbeat expiry
 *   {node:<nodeId>}:conns  hash  socketId -> userId, for the sweeper
 *   presence:sweep:<nodeId> lock so one replica sweeps a dead node
 *
 * A user is online while any connection entry is unexpired. Each replica
 * refreshes each of its connections every refreshMs (a tenth of them every
 * refreshMs / 10, with the node heartbeat) and all of them at once when Redis
 * comes back or lost its data; a replica
 * that dies or freezes stops refreshing, its heartbeat expires, and a live
 * replica's sweeper removes its entries and announces those users offline.
 */
export class PresenceService {
  private readonly local = new Map<string, LocalConnection>();
  private readonly statuses = new Map<string, Status>();
  private readonly contributors: RefreshContributor[] = [];
  private readonly removeConnectionScript: RunnerOf<typeof REMOVE_CONNECTION>;
  private readonly removeUserIfNotNewer: RunnerOf<typeof REMOVE_USER_IF_NOT_NEWER>;
  private refreshTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private refreshing = false;
  /** A full refresh was asked for while a tick ran, or the last one failed: the next tick does it. */
  private fullRefreshPending = false;
  /** The node may have been swept (or Redis lost its data) and its users are not re-announced yet. */
  private reannouncePending = false;
  /** When the last heartbeat that Redis confirmed was sent. */
  private heartbeatConfirmedAt = Date.now();
  private refreshTicks = 0;
  private nextSlice = 0;
  private announce: (update: PresenceUpdate) => void = () => undefined;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    readonly nodeId: string,
    private readonly instance: string,
    private readonly opts: { ttlMs: number; refreshMs: number; sweepMs: number },
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.removeConnectionScript = REMOVE_CONNECTION.on(redis.command);
    this.removeUserIfNotNewer = REMOVE_USER_IF_NOT_NEWER.on(redis.command);
  }

  /** Where updates go (the gateway broadcasts them to every replica). */
  onUpdate(fn: (update: PresenceUpdate) => void): void {
    this.announce = fn;
  }

  addContributor(c: RefreshContributor): void {
    this.contributors.push(c);
  }

  /** Starts the refresh and sweep loops; Redis coming back re-asserts everything at once. */
  start(): void {
    this.refreshTimer = setInterval(() => void this.refresh(false), Math.max(1, Math.floor(this.opts.refreshMs / REFRESH_SLICES)));
    this.sweepTimer = setInterval(() => void this.sweepDeadNodes(), this.opts.sweepMs);
    this.redis.on('up', () => void this.refreshAll());
    void this.refreshAll();
  }

  stop(): void {
    clearInterval(this.refreshTimer);
    clearInterval(this.sweepTimer);
  }

  get localCount(): number {
    return this.local.size;
  }

  localUserIds(): Set<string> {
    return new Set([...this.local.values()].map((c) => c.userId));
  }

  async connect(socketId: string, userId: string): Promise<void> {
    this.local.set(socketId, { userId, slice: this.nextSlice++ % REFRESH_SLICES });
    const expiresAt = Date.now() + this.opts.ttlMs;
    const devices = await this.redis.orLocal(
      'presence.connect',
      async () => {
        const p = this.redis.batch();
        this.writeConnection(p, socketId, userId, expiresAt);
        p.zadd(this.keys.plain('presence', 'nodes'), expiresAt, this.nodeId);
        p.zcount(this.connsKey(userId), `(${Date.now()}`, '+inf');
        p.get(this.statusKey(userId));
        const results = await p.exec();
        const status = results?.at(-1)?.[1];
        if (STATUSES.includes(status as Status)) this.statuses.set(userId, status as Status);
        return Number(results?.at(-2)?.[1] ?? 1);
      },
      () => this.localDevices(userId),
    );
    this.emitUpdate(userId, true, devices);
  }

  async disconnect(socketId: string): Promise<void> {
    const conn = this.local.get(socketId);
    if (!conn) return;
    this.local.delete(socketId);
    const devices = await this.redis.orLocal(
      'presence.disconnect',
      () => this.removeConnection(this.nodeId, socketId, conn.userId),
      () => this.localDevices(conn.userId),
    );
    if (devices === 0) this.statuses.delete(conn.userId);
    this.emitUpdate(conn.userId, devices > 0, devices);
  }

  async setStatus(userId: string, status: Status): Promise<void> {
    this.statuses.set(userId, status);
    // Redis away: the local status still applies; the next refresh writes it to Redis.
    await this.redis.orLocal('presence.status', () => this.redis.command.set(this.statusKey(userId), status, 'PX', this.opts.ttlMs), () => null);
    this.emitUpdate(userId, true, await this.devicesOf(userId));
  }

  /** An explicit client heartbeat refreshes that connection now. */
  async heartbeat(socketId: string): Promise<void> {
    const conn = this.local.get(socketId);
    if (!conn) return;
    const p = this.redis.batch();
    this.writeConnection(p, socketId, conn.userId, Date.now() + this.opts.ttlMs);
    // Redis away: the refresh after it is back writes this connection.
    await this.redis.orLocal('presence.heartbeat', () => p.exec(), () => null);
  }

  /** Online users across the cluster, or this replica's own while Redis is down. */
  async onlineUsers(limit = 1000): Promise<{ users: OnlineUser[]; degraded: boolean }> {
    const now = Date.now();
    return this.redis.orLocal<{ users: OnlineUser[]; degraded: boolean }>(
      'presence.online',
      async () => {
        const userIds = await this.redis.command.zrangebyscore(this.keys.plain('presence', 'users'), `(${now}`, '+inf', 'LIMIT', 0, limit);
        if (userIds.length === 0) return { users: [], degraded: false };
        const p = this.redis.batch();
        for (const id of userIds) {
          p.zcount(this.connsKey(id), `(${now}`, '+inf');
          p.get(this.statusKey(id));
        }
        const res = (await p.exec()) ?? [];
        const users: OnlineUser[] = [];
        userIds.forEach((userId, i) => {
          const devices = Number(res[2 * i]?.[1] ?? 0);
          if (devices > 0) users.push({ userId, devices, status: asStatus(res[2 * i + 1]?.[1]) });
        });
        return { users, degraded: false };
      },
      () => {
        const users = [...this.localUserIds()].map((userId) => ({
          userId,
          devices: this.localDevices(userId),
          status: this.statuses.get(userId) ?? 'online',
        }));
        return { users, degraded: true };
      },
    );
  }

  /** One user's state: online anywhere in the cluster (or here, while Redis is down). */
  async stateOf(userId: string): Promise<UserState> {
    return this.redis.orLocal<UserState>(
      'presence.state',
      async () => {
        const [[e1, devices], [e2, status]] = (await this.redis.command
          .pipeline()
          .zcount(this.connsKey(userId), `(${Date.now()}`, '+inf')
          .get(this.statusKey(userId))
          .exec()) as Array<[Error | null, unknown]>;
        if (e1 || e2) throw e1 ?? e2;
        const n = Number(devices);
        return { online: n > 0, devices: n, status: n > 0 ? asStatus(status) : 'offline', degraded: false };
      },
      () => {
        const n = this.localDevices(userId);
        return { online: n > 0, devices: n, status: n > 0 ? (this.statuses.get(userId) ?? 'online') : 'offline', degraded: true };
      },
    );
  }

  /** Live replicas from their heartbeats, with the connection count each reported last. */
  async liveNodes(): Promise<Array<{ nodeId: string; instance: string; connections: number; reportedAt: number }>> {
    const now = Date.now();
    const ids = await this.redis.command.zrangebyscore(this.keys.plain('presence', 'nodes'), `(${now}`, '+inf');
    if (ids.length === 0) return [];
    const infos = await this.redis.command.hmget(this.keys.plain('presence', 'node-info'), ...ids);
    return ids.map((nodeId, i) => {
      const info = infos[i] ? (JSON.parse(infos[i]!) as { instance: string; connections: number; at: number }) : undefined;
      return { nodeId, instance: info?.instance ?? nodeId, connections: info?.connections ?? 0, reportedAt: info?.at ?? 0 };
    });
  }

  async onlineCount(): Promise<number> {
    return this.redis.command.zcount(this.keys.plain('presence', 'users'), `(${Date.now()}`, '+inf');
  }

  /** Writes every local connection now (Redis came back, or lost its data). */
  refreshAll(): Promise<void> {
    return this.refresh(true);
  }

  /**
   * One tick: the node heartbeat, then the connections of this tick's slice
   * (all of them when `full`), with their contributors' entries, in pipelines
   * of REFRESH_CHUNK connections. A tick that finds the previous one still
   * running is skipped, so a slow Redis stretches the round instead of
   * piling up refreshes (TTL >= 2 x refreshMs leaves room for that).
   * A full refresh or a re-announcement that fails is done again by the next
   * tick: its heartbeat finds the node registered, so nothing else would.
   */
  private async refresh(full: boolean): Promise<void> {
    if (!this.redis.isUp()) return;
    if (this.refreshing) {
      this.fullRefreshPending ||= full;
      return;
    }
    this.refreshing = true;
    full ||= this.fullRefreshPending;
    this.fullRefreshPending = false;
    try {
      const slice = this.refreshTicks++ % REFRESH_SLICES;
      // Everyone here is written and re-announced when the node entry was
      // missing (ZADD answers 1: swept, or Redis lost its data), or when no
      // heartbeat was confirmed for a TTL: a sweeper may have removed us
      // meanwhile, and the ZADD that re-added us may be the one whose answer
      // was lost (a frozen process, a command timeout).
      const sentAt = Date.now();
      const added = await this.nodeHeartbeat();
      if (added || sentAt - this.heartbeatConfirmedAt > this.opts.ttlMs) this.reannouncePending = true;
      this.heartbeatConfirmedAt = sentAt;
      const everyone = full || this.reannouncePending;
      const due = [...this.local].filter(([, conn]) => everyone || conn.slice === slice);
      for (let i = 0; i < due.length; i += REFRESH_CHUNK) {
        const expiresAt = Date.now() + this.opts.ttlMs;
        const p = this.redis.batch();
        for (const [socketId, conn] of due.slice(i, i + REFRESH_CHUNK)) {
          this.writeConnection(p, socketId, conn.userId, expiresAt);
          for (const c of this.contributors) c.contributeRefresh(p, socketId, expiresAt);
        }
        throwOnMultiError(await p.exec());
      }
      if (this.reannouncePending) {
        this.reannouncePending = false;
        if (this.local.size > 0) {
          this.log.info({ connections: this.local.size }, 'node missing from redis or its heartbeat late: re-announcing local presence');
          for (const userId of this.localUserIds()) this.emitUpdate(userId, true, await this.devicesOf(userId));
        }
      }
    } catch (err) {
      this.fullRefreshPending ||= full;
      if (!isRedisUnavailable(err)) throw err;
      this.log.debug({ err: (err as Error).message, full, reannounce: this.reannouncePending }, 'presence refresh failed');
    } finally {
      this.refreshing = false;
    }
  }

  /** Refreshes this node's heartbeat and info; true when the node entry was missing. */
  private async nodeHeartbeat(): Promise<boolean> {
    const expiresAt = Date.now() + this.opts.ttlMs;
    const p = this.redis.batch();
    p.zadd(this.keys.plain('presence', 'nodes'), expiresAt, this.nodeId);
    p.pexpire(this.nodeConnsKey(this.nodeId), Math.max(this.opts.ttlMs * 20, 600_000));
    p.hset(this.keys.plain('presence', 'node-info'), this.nodeId, JSON.stringify({ instance: this.instance, connections: this.local.size, at: Date.now() }));
    const results = throwOnMultiError(await p.exec());
    return Number(results[0]?.[1]) === 1;
  }

  /** Removes the entries of nodes whose heartbeat expired, and announces who went offline. */
  async sweepDeadNodes(): Promise<number> {
    if (!this.redis.isUp()) return 0;
    let swept = 0;
    try {
      const cmd = this.redis.command;
      const dead = await cmd.zrangebyscore(this.keys.plain('presence', 'nodes'), '-inf', Date.now(), 'LIMIT', 0, 20);
      for (const nodeId of dead) {
        if (nodeId === this.nodeId) continue;
        const claimed = await cmd.set(this.keys.plain('presence', 'sweep', nodeId), this.nodeId, 'PX', this.opts.ttlMs, 'NX');
        if (claimed !== 'OK') continue;
        const conns = await cmd.hgetall(this.nodeConnsKey(nodeId));
        const changed = new Map<string, number>();
        const cleanup = this.redis.batch();
        for (const [socketId, userId] of Object.entries(conns)) {
          changed.set(userId, await this.removeConnection(nodeId, socketId, userId));
          for (const c of this.contributors) c.sweepConnection?.(cleanup, nodeId, socketId, userId);
          swept++;
        }
        await cleanup.exec();
        await cmd.del(this.nodeConnsKey(nodeId));
        await cmd.zrem(this.keys.plain('presence', 'nodes'), nodeId);
        await cmd.hdel(this.keys.plain('presence', 'node-info'), nodeId);
        for (const [userId, devices] of changed) this.emitUpdate(userId, devices > 0, devices);
        this.log.info({ deadNode: nodeId, connections: Object.keys(conns).length }, 'swept a dead node');
      }
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      this.log.debug({ err: (err as Error).message }, 'presence sweep failed');
    }
    this.metrics.presenceSwept.inc(swept);
    return swept;
  }

  /** Removes every local connection's entries (graceful shutdown) and announces the result. */
  async removeNode(): Promise<void> {
    const sockets = [...this.local.keys()];
    await Promise.allSettled(sockets.map((id) => this.disconnect(id)));
    // Redis away: the heartbeat expires and another replica sweeps us.
    await this.redis.orLocal(
      'presence.remove-node',
      async () => {
        await this.redis.command.del(this.nodeConnsKey(this.nodeId));
        await this.redis.command.zrem(this.keys.plain('presence', 'nodes'), this.nodeId);
        await this.redis.command.hdel(this.keys.plain('presence', 'node-info'), this.nodeId);
      },
      () => undefined,
    );
  }

  private writeConnection(p: ChainableCommander, socketId: string, userId: string, expiresAt: number): void {
    const conns = this.connsKey(userId);
    p.zadd(conns, expiresAt, `${this.nodeId}:${socketId}`);
    p.pexpireat(conns, expiresAt);
    p.zadd(this.keys.plain('presence', 'users'), 'GT', expiresAt, userId);
    // Keep whatever status another replica set; only create the default.
    p.set(this.statusKey(userId), 'online', 'PXAT', expiresAt, 'NX');
    p.pexpireat(this.statusKey(userId), expiresAt);
    p.hset(this.nodeConnsKey(this.nodeId), socketId, userId);
  }

  /** Returns how many live connections the user has left. Throws when Redis is down. */
  private async removeConnection(nodeId: string, socketId: string, userId: string): Promise<number> {
    const cmd = this.redis.command;
    const [removedExpiry, left] = await this.removeConnectionScript([this.connsKey(userId)], [`${nodeId}:${socketId}`, Date.now()]);
    await cmd.hdel(this.nodeConnsKey(nodeId), socketId);
    if (left === 0) {
      await cmd.del(this.statusKey(userId));
      await this.removeUserIfNotNewer([this.keys.plain('presence', 'users')], [userId, removedExpiry]);
    }
    return left;
  }

  private async devicesOf(userId: string): Promise<number> {
    return this.redis.orLocal('presence.devices', () => this.redis.command.zcount(this.connsKey(userId), `(${Date.now()}`, '+inf'), () => this.localDevices(userId));
  }

  private localDevices(userId: string): number {
    let n = 0;
    for (const c of this.local.values()) if (c.userId === userId) n++;
    return n;
  }

  private emitUpdate(userId: string, online: boolean, devices: number): void {
    const status = online ? (this.statuses.get(userId) ?? 'online') : 'offline';
    this.announce({ userId, status, online, devices, ts: Date.now() });
  }

  private connsKey(userId: string): string {
    return this.keys.tagged('u', userId, 'conns');
  }

  private statusKey(userId: string): string {
    return this.keys.tagged('u', userId, 'status');
  }

  private nodeConnsKey(nodeId: string): string {
    return this.keys.tagged('node', nodeId, 'conns');
  }
}

function asStatus(v: unknown): Status {
  return STATUSES.includes(v as Status) ? (v as Status) : 'online';
}
