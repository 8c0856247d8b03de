import type { ChainableCommander } from 'ioredis';
import type { Keyspace } from '../infra/keys';
import type { RedisConnections } from '../infra/redis';
import { BACKSTOP_MS, type RefreshContributor } from '../presence';

/** What Redis knows about one live connection. */
export interface SocketSession {
  socketId: string;
  userId: string;
  nodeId: string;
  region?: string;
  lat?: number;
  lng?: number;
  connectedAt: number;
  lastActivityAt: number;
  userAgent?: string;
}

/**
 * One Redis record per connection, `socket:{<socketId>}` (a hash), so any
 * replica can tell who a socket is, where it is and when it last did
 * something. Like presence it counts while its node's heartbeat does (the
 * record names the node) and is removed on disconnect or by the dead-node
 * sweeper; its TTL is only the backstop (BACKSTOP_MS).
 */
export class SocketSessions implements RefreshContributor {
  private readonly local = new Map<string, SocketSession>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly nodeId: string,
  ) {}

  async open(socketId: string, userId: string, userAgent: string | undefined): Promise<void> {
    const now = Date.now();
    const session: SocketSession = { socketId, userId, nodeId: this.nodeId, connectedAt: now, lastActivityAt: now, userAgent: userAgent?.slice(0, 256) };
    this.local.set(socketId, session);
    const p = this.redis.background.pipeline();
    this.write(p, session, now + BACKSTOP_MS);
    // Redis away: the re-assertion after it is back writes the session.
    await this.redis.orLocal('sessions.write', () => p.exec(), () => null);
  }

  /**
   * Marks activity locally. Redis gets it with the record's next write (a
   * region change, a re-assertion, the backstop rewrite), not per event.
   */
  touch(socketId: string): void {
    const s = this.local.get(socketId);
    if (s) s.lastActivityAt = Date.now();
  }

  async setLocation(socketId: string, region: string, lat: number, lng: number): Promise<string | undefined> {
    const s = this.local.get(socketId);
    if (!s) return undefined;
    const previous = s.region;
    Object.assign(s, { region, lat, lng, lastActivityAt: Date.now() });
    const p = this.redis.background.pipeline();
    this.write(p, s, Date.now() + BACKSTOP_MS);
    await this.redis.orLocal('sessions.write', () => p.exec(), () => null);
    return previous;
  }

  regionOf(socketId: string): string | undefined {
    return this.local.get(socketId)?.region;
  }

  async close(socketId: string): Promise<void> {
    this.local.delete(socketId);
    // Redis away: the sweeper removes it if this replica dies first; else its backstop TTL.
    await this.redis.orLocal('sessions.close', () => this.redis.background.del(this.key(socketId)), () => 0);
  }

  /** Any replica's connection, from Redis. */
  async get(socketId: string): Promise<SocketSession | null> {
    const h = await this.redis.command.hgetall(this.key(socketId));
    if (!h.userId) return null;
    return {
      socketId,
      userId: h.userId,
      nodeId: h.nodeId,
      region: h.region || undefined,
      lat: h.lat ? Number(h.lat) : undefined,
      lng: h.lng ? Number(h.lng) : undefined,
      connectedAt: Number(h.connectedAt),
      lastActivityAt: Number(h.lastActivityAt),
      userAgent: h.userAgent || undefined,
    };
  }

  contributeRefresh(p: ChainableCommander, socketId: string, expiresAt: number): void {
    const s = this.local.get(socketId);
    if (s) this.write(p, s, expiresAt);
  }

  sweepConnection(p: ChainableCommander, _nodeId: string, socketId: string): void {
    p.del(this.key(socketId));
  }

  private write(p: ChainableCommander, s: SocketSession, expiresAt: number): void {
    const fields: Record<string, string | number> = {
      userId: s.userId,
      nodeId: s.nodeId,
      connectedAt: s.connectedAt,
      lastActivityAt: s.lastActivityAt,
    };
    if (s.userAgent) fields.userAgent = s.userAgent;
    if (s.region) Object.assign(fields, { region: s.region, lat: s.lat!, lng: s.lng! });
    const key = this.key(s.socketId);
    p.hset(key, fields);
    p.pexpireat(key, expiresAt);
  }

  private key(socketId: string): string {
    return this.keys.plain(`socket:{${socketId}}`);
  }
}
