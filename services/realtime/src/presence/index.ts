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
  /** When its entries were last written (see BACKSTOP_MS). */
  writtenAt: number;
}

/**
 * How long any per-connection entry lives after it was last written, however
 * long its node stays alive: a backstop, so that nothing stays in Redis for
 * good if every replica dies at once (no sweeper left). A live replica
 * rewrites each of its connections once per half of it, the ones written
 * longest ago first, a handful per tick.
 */
export const BACKSTOP_MS = 6 * 3600_000;
/** Most connections per pipeline when many are written at once (a full re-assertion). */
const WRITE_CHUNK = 250;

/** Tells whether a node's entries count: anything but a node known to have missed its heartbeat. */
export type NodeLiveness = (nodeId: string) => boolean;

/** Lets other capabilities (rooms, sessions) keep per-connection entries that live and die with presence. */
export interface RefreshContributor {
  /** Writes the connection's entries (a full re-assertion, or the backstop rewrite), expiring at `expiresAt`. */
  contributeRefresh(pipeline: ChainableCommander, socketId: string, expiresAt: number): void;
  /** Called by the sweeper for each connection of a dead node. */
  sweepConnection?(pipeline: ChainableCommander, nodeId: string, socketId: string, userId: string): void;
  /** Called by the sweeper once per dead node, after its connections. */
  sweepNode?(nodeId: string): Promise<void>;
  /** Called after a full re-assertion: removes this node's entries that it no longer holds (changes Redis missed while away). */
  reconcile?(): Promise<void>;
}

const REMOVE_CONNECTION = luaScript<[conns: string], [member: string, now: number], [expiry: string, ...remaining: string[]]>('presence', 'remove-connection', 1);
const REMOVE_USER_IF_NOT_NEWER = luaScript<[users: string], [userId: string, expiry: string], 0 | 1>('presence', 'remove-user-if-not-newer', 1);

/**
 * Presence per connection, not per user: a user is online while any of their
 * connections is, and a connection is while its replica's heartbeat is.
 *
 * Keys (prefix omitted):
 *   {u:<userId>}:conns     zset  "<nodeId>:<socketId>" scored by backstop expiry (ms)
 *   {u:<userId>}:status    string online|away|busy, deleted with the user's last connection
 *   presence:users         zset  userId scored by their latest backstop expiry
 *   presence:nodes         zset  nodeId scored by its heartbeat expiry (now + ttlMs)
 *   presence:node-info     hash  nodeId -> { instance, connections, at }
 *   {node:<nodeId>}:conns  hash  socketId -> userId, for the sweeper
 *   presence:sweep:<nodeId> lock so one replica sweeps a dead node
 *
 * A replica keeps all its connections alive with one heartbeat per
 * refreshMs, whatever its socket count: readers count an entry only while its
 * node's heartbeat has not expired (NodeLiveness, from the node list each
 * replica reads with its heartbeat). A replica that dies or freezes stops its
 * heartbeat; a ttlMs later its entries stop counting, and a live replica's
 * sweeper removes them (and its rooms' and sessions' entries) and announces
 * those users offline. A replica writes all its connections again at once
 * when Redis comes back, lost its data, or may have swept it (its node entry
 * was missing, or no heartbeat was confirmed for a ttlMs); it then announces
 * its users again.
 */
export class PresenceService {
  /** Insertion order is write order: the backstop rewrite takes them from the front. */
  private readonly local = new Map<string, LocalConnection>();
  private readonly statuses = new Map<string, Status>();
  private readonly contributors: RefreshContributor[] = [];
  private readonly removeConnectionScript: RunnerOf<typeof REMOVE_CONNECTION>;
  private readonly removeUserIfNotNewer: RunnerOf<typeof REMOVE_USER_IF_NOT_NEWER>;
  /** Heartbeat expiry of each node as last read; a node that left the list is kept as dead (expiry 0) for a backstop. */
  private readonly nodes = new Map<string, { expiry: number; seenAt: number }>();
  private refreshTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private refreshing = false;
  /** A full refresh was asked for while a tick ran, or the last one failed: the next tick does it. */
  private fullRefreshPending = false;
  /** The node may have been swept (or Redis lost its data) and its users are not re-announced yet. */
  private reannouncePending = false;
  /** When the last heartbeat that Redis confirmed was sent. */
  private heartbeatConfirmedAt = Date.now();
  private announce: (update: PresenceUpdate) => void = () => undefined;
  /** Bound once: rooms and regions filter their members with it. */
  readonly isLive: NodeLiveness = (nodeId) => {
    if (nodeId === this.nodeId) return true;
    const known = this.nodes.get(nodeId);
    return known === undefined || known.expiry > Date.now();
  };

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    readonly nodeId: string,
    private readonly instance: string,
    private readonly opts: { ttlMs: number; refreshMs: number; sweepMs: number },
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.removeConnectionScript = REMOVE_CONNECTION.on(redis.background);
    this.removeUserIfNotNewer = REMOVE_USER_IF_NOT_NEWER.on(redis.background);
  }

  /** Where updates go (the gateway broadcasts them to every replica). */
  onUpdate(fn: (update: PresenceUpdate) => void): void {
    this.announce = fn;
  }

  addContributor(c: RefreshContributor): void {
    this.contributors.push(c);
  }

  /** Starts the heartbeat and sweep loops; Redis coming back re-asserts everything at once. */
  start(): void {
    this.refreshTimer = setInterval(() => void this.refresh(false), this.opts.refreshMs);
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
    const now = Date.now();
    this.local.set(socketId, { userId, writtenAt: now });
    const devices = await this.redis.orLocal(
      'presence.connect',
      async () => {
        const p = this.redis.backgroundBatch();
        // The node first, so no reader meets this entry before its node's heartbeat.
        p.zadd(this.keys.plain('presence', 'nodes'), now + this.opts.ttlMs, this.nodeId);
        this.writeConnection(p, socketId, userId, now + BACKSTOP_MS);
        p.zrange(this.connsKey(userId), 0, -1);
        p.get(this.statusKey(userId));
        const results = throwOnMultiError(await p.exec());
        const status = results.at(-1)?.[1];
        if (STATUSES.includes(status as Status)) this.statuses.set(userId, status as Status);
        return this.liveCount(results.at(-2)?.[1] as string[]);
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
    // Redis away: the local status still applies; the re-assertion after it is back writes it.
    await this.redis.orLocal('presence.status', () => this.redis.command.set(this.statusKey(userId), status, 'PXAT', Date.now() + BACKSTOP_MS), () => null);
    this.emitUpdate(userId, true, await this.devicesOf(userId));
  }

  /** An explicit client heartbeat writes that connection's entries again now (its node's heartbeat already keeps them). */
  async heartbeat(socketId: string): Promise<void> {
    const conn = this.local.get(socketId);
    if (!conn) return;
    // Redis away: the re-assertion after it is back writes this connection.
    await this.redis.orLocal('presence.heartbeat', () => this.write([[socketId, conn]]), () => undefined);
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
          p.zrange(this.connsKey(id), 0, -1);
          p.get(this.statusKey(id));
        }
        const res = throwOnMultiError(await p.exec());
        const users: OnlineUser[] = [];
        userIds.forEach((userId, i) => {
          const devices = this.liveCount(res[2 * i][1] as string[]);
          if (devices > 0) users.push({ userId, devices, status: asStatus(res[2 * i + 1][1]) });
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
        const [[, conns], [, status]] = throwOnMultiError(await this.redis.command.pipeline().zrange(this.connsKey(userId), 0, -1).get(this.statusKey(userId)).exec());
        const n = this.liveCount(conns as string[]);
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

  /** Users with a connection entry; a user of a replica that just died is counted until the sweeper removes it. */
  async onlineCount(): Promise<number> {
    return this.redis.command.zcount(this.keys.plain('presence', 'users'), `(${Date.now()}`, '+inf');
  }

  /** Writes every local connection now (Redis came back, or lost its data). */
  refreshAll(): Promise<void> {
    return this.refresh(true);
  }

  /**
   * One tick: the node heartbeat (which keeps every local connection alive),
   * and the backstop rewrite of the connections written longest ago; all of
   * them when `full` or when this node may have been swept. A tick that finds
   * the previous one still running is skipped. A full refresh or a
   * re-announcement that fails is done again by the next tick: its heartbeat
   * finds the node registered, so nothing else would.
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
      // Everyone here is written and re-announced when the node entry was
      // missing (ZADD answers 1: swept, or Redis lost its data), or when no
      // heartbeat was confirmed for a TTL: a sweeper may have removed us
      // meanwhile, and the ZADD that re-added us may be the one whose answer
      // was lost (a frozen process, a command timeout).
      const sentAt = Date.now();
      const added = await this.nodeHeartbeat();
      if (added || sentAt - this.heartbeatConfirmedAt > this.opts.ttlMs) this.reannouncePending = true;
      this.heartbeatConfirmedAt = sentAt;
      if (full || this.reannouncePending) {
        await this.write([...this.local]);
        await this.reconcile();
      } else {
        await this.write(this.dueForBackstop());
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

  /**
   * Removes this node's entries for connections it no longer holds: those
   * that closed while Redis was away (their removal failed). Nothing else
   * would: this node's heartbeat keeps them counting. Their users are
   * announced with what is left of them.
   */
  private async reconcile(): Promise<void> {
    const listed = await this.redis.background.hgetall(this.nodeConnsKey(this.nodeId));
    const stale = Object.entries(listed).filter(([socketId]) => !this.local.has(socketId));
    if (stale.length > 0) {
      const changed = new Map<string, number>();
      const cleanup = this.redis.backgroundBatch();
      for (const [socketId, userId] of stale) {
        changed.set(userId, await this.removeConnection(this.nodeId, socketId, userId));
        for (const c of this.contributors) c.sweepConnection?.(cleanup, this.nodeId, socketId, userId);
      }
      throwOnMultiError(await cleanup.exec());
      this.log.info({ connections: stale.length }, 'removed entries of connections that closed while redis was away');
      for (const [userId, devices] of changed) this.emitUpdate(userId, devices > 0, devices);
    }
    for (const c of this.contributors) await c.reconcile?.();
  }

  /** The connections whose entries were written more than half a backstop ago, oldest first (the map's front). */
  private dueForBackstop(): Array<[string, LocalConnection]> {
    const due: Array<[string, LocalConnection]> = [];
    const before = Date.now() - BACKSTOP_MS / 2;
    for (const entry of this.local) {
      if (entry[1].writtenAt > before) break;
      due.push(entry);
    }
    return due;
  }

  /** Writes these connections' entries with their contributors', in pipelines of WRITE_CHUNK, moving each to the back of the write order. */
  private async write(connections: Array<[string, LocalConnection]>): Promise<void> {
    for (let i = 0; i < connections.length; i += WRITE_CHUNK) {
      const now = Date.now();
      const expiresAt = now + BACKSTOP_MS;
      const chunk = connections.slice(i, i + WRITE_CHUNK);
      const p = this.redis.backgroundBatch();
      for (const [socketId, conn] of chunk) {
        this.writeConnection(p, socketId, conn.userId, expiresAt);
        for (const c of this.contributors) c.contributeRefresh(p, socketId, expiresAt);
      }
      throwOnMultiError(await p.exec());
      for (const [socketId, conn] of chunk) {
        if (this.local.get(socketId) !== conn) continue; // disconnected meanwhile
        this.local.delete(socketId);
        conn.writtenAt = now;
        this.local.set(socketId, conn);
      }
    }
  }

  /** Refreshes this node's heartbeat and info, and reads every node's; true when this node's entry was missing. */
  private async nodeHeartbeat(): Promise<boolean> {
    const now = Date.now();
    const nodesKey = this.keys.plain('presence', 'nodes');
    const infoKey = this.keys.plain('presence', 'node-info');
    const p = this.redis.backgroundBatch();
    p.zadd(nodesKey, now + this.opts.ttlMs, this.nodeId);
    p.zrange(nodesKey, 0, -1, 'WITHSCORES');
    p.hset(infoKey, this.nodeId, JSON.stringify({ instance: this.instance, connections: this.local.size, at: now }));
    // The node's own keys, and the shared ones, outlive it by a backstop at most.
    for (const key of [nodesKey, infoKey, this.nodeConnsKey(this.nodeId)]) p.pexpire(key, BACKSTOP_MS);
    const results = throwOnMultiError(await p.exec());
    this.rememberNodes(results[1][1] as string[], now);
    return Number(results[0][1]) === 1;
  }

  /** The heartbeat expiries just read; a node gone from the list (swept, or stopped) stays known as dead for a backstop. */
  private rememberNodes(flat: string[], now: number): void {
    const listed = new Set<string>();
    for (let i = 0; i < flat.length; i += 2) {
      listed.add(flat[i]);
      this.nodes.set(flat[i], { expiry: Number(flat[i + 1]), seenAt: now });
    }
    for (const [nodeId, known] of this.nodes) {
      if (listed.has(nodeId)) continue;
      if (now - known.seenAt > BACKSTOP_MS) this.nodes.delete(nodeId);
      else known.expiry = 0;
    }
  }

  /** Removes the entries of nodes whose heartbeat expired, and announces who went offline. */
  async sweepDeadNodes(): Promise<number> {
    if (!this.redis.isUp()) return 0;
    let swept = 0;
    try {
      const cmd = this.redis.background;
      const dead = await cmd.zrangebyscore(this.keys.plain('presence', 'nodes'), '-inf', Date.now(), 'LIMIT', 0, 20);
      for (const nodeId of dead) {
        if (nodeId === this.nodeId) continue;
        const claimed = await cmd.set(this.keys.plain('presence', 'sweep', nodeId), this.nodeId, 'PX', this.opts.ttlMs, 'NX');
        if (claimed !== 'OK') continue;
        // Readers here stop counting it at once, whatever the last heartbeat read said.
        this.nodes.set(nodeId, { expiry: 0, seenAt: Date.now() });
        const conns = await cmd.hgetall(this.nodeConnsKey(nodeId));
        const changed = new Map<string, number>();
        const cleanup = this.redis.backgroundBatch();
        for (const [socketId, userId] of Object.entries(conns)) {
          changed.set(userId, await this.removeConnection(nodeId, socketId, userId));
          for (const c of this.contributors) c.sweepConnection?.(cleanup, nodeId, socketId, userId);
          swept++;
        }
        await cleanup.exec();
        for (const c of this.contributors) await c.sweepNode?.(nodeId);
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
        const bg = this.redis.background;
        await bg.del(this.nodeConnsKey(this.nodeId));
        await bg.zrem(this.keys.plain('presence', 'nodes'), this.nodeId);
        await bg.hdel(this.keys.plain('presence', 'node-info'), this.nodeId);
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
    const bg = this.redis.background;
    // Independent keys (other slots on a cluster): sent together, one write and one wait for each pair.
    const [[removedExpiry, ...remaining]] = await Promise.all([
      this.removeConnectionScript([this.connsKey(userId)], [`${nodeId}:${socketId}`, Date.now()]),
      bg.hdel(this.nodeConnsKey(nodeId), socketId),
    ]);
    const left = this.liveCount(remaining);
    if (left === 0) await Promise.all([bg.del(this.statusKey(userId)), this.removeUserIfNotNewer([this.keys.plain('presence', 'users')], [userId, removedExpiry])]);
    return left;
  }

  /**
   * A user's live connections on the other replicas (the handshake's cap on
   * sockets per user adds this replica's own); none known while Redis is away.
   */
  async connectionsElsewhere(userId: string): Promise<number> {
    const own = `${this.nodeId}:`;
    return this.redis.orLocal(
      'presence.elsewhere',
      async () => this.liveCount((await this.redis.command.zrange(this.connsKey(userId), 0, -1)).filter((m) => !m.startsWith(own))),
      () => 0,
    );
  }

  private async devicesOf(userId: string): Promise<number> {
    return this.redis.orLocal('presence.devices', async () => this.liveCount(await this.redis.command.zrange(this.connsKey(userId), 0, -1)), () => this.localDevices(userId));
  }

  /** How many of a user's "<nodeId>:<socketId>" entries belong to live nodes. */
  private liveCount(members: string[] | undefined): number {
    let n = 0;
    for (const m of members ?? []) if (this.isLive(m.slice(0, m.lastIndexOf(':')))) n++;
    return n;
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
