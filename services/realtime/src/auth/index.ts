import { randomUUID } from 'node:crypto';
import { AppError } from '../infra/errors';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import { luaScript, type RunnerOf } from '../infra/lua-scripts';
import { throwOnMultiError, type RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import { crossSlotBatch, scanEveryPrimary } from '../infra/redis-topology';
import type { SessionUser } from '@switchboard/protocol';
import type { TokenClaims, TokenService } from './tokens';

export type { TokenClaims };

export interface LoginResult {
  token: string;
  sessionId: string;
  userId: string;
  name: string;
  roles: string[];
  expiresAt: number;
}

/** Longest User-Agent kept with a session. */
export const USER_AGENT_MAX = 256;

type CheckReply = 'ok' | 'opened' | 'missing' | 'revoked' | 'mismatch';
const CHECK_SESSION = luaScript<[session: string], [userId: string, name: string, keepUntil: number, open: 0 | 1, now: number], CheckReply>('auth', 'check-session', 1);
const END_SESSION = luaScript<[session: string], [now: number, keepUntil: number, asker: string], ['ended' | 'forbidden' | 'missing', string]>('auth', 'end-session', 1);

export interface AuthSettings {
  /** Lifetime of a demo login's session and token; how long an operator's revoke of an unknown id is kept. */
  ttlSec: number;
  /** Leeway of identity-provider tokens: their session record outlives `exp` by this much. */
  clockSkewSec: number;
  /** Demo login on (AUTH_DEMO_LOGIN), and the user ids it makes admins (AUTH_DEMO_ADMINS). */
  demoLogin: boolean;
  demoAdmins: ReadonlySet<string>;
}

/**
 * Sessions: a verified token names a session record in Redis, so a user can be
 * logged in on several devices and each session can be ended on its own, on
 * every replica. The demo login opens its sessions itself; an identity
 * provider's token opens its session the first time a replica sees it. Either
 * way the record holds the session's user, and a token naming a session of
 * another user is refused.
 *
 * Keys: <p>session:<sid> (hash: userId, name, source, createdAt, expiresAt,
 * revokedAt; what the user's device list shows: lastActiveAt, userAgent and
 * sockets:<nodeId>, see devices.ts; TTL: the session's end) and
 * <p>{u:<userId>}:sessions (set of the user's session ids).
 */
export class AuthService {
  /** Sessions ended through this replica, so they stay refused during a Redis outage. */
  private readonly locallyRevoked = new Map<string, number>();
  private readonly checkSession: RunnerOf<typeof CHECK_SESSION>;
  private readonly endSessionScript: RunnerOf<typeof END_SESSION>;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly tokens: TokenService,
    private readonly settings: AuthSettings,
    private readonly log: Logger,
  ) {
    this.checkSession = CHECK_SESSION.on(redis.command);
    this.endSessionScript = END_SESSION.on(redis.command);
  }

  get demoLogin(): boolean {
    return this.settings.demoLogin;
  }

  /** The demo login: any user id, no password (only with AUTH_DEMO_LOGIN=true; the router is not mounted otherwise). */
  async login(userId: string, name: string, userAgent?: string): Promise<LoginResult> {
    if (!this.settings.demoLogin) throw new AppError('NOT_FOUND', 'no such route');
    const sessionId = randomUUID();
    const roles = this.settings.demoAdmins.has(userId) ? ['admin'] : [];
    const { token, expiresAt } = await this.tokens.signDemo({ userId, sessionId, name, roles }, this.settings.ttlSec);
    const sessionKey = this.sessionKey(sessionId);
    const now = Date.now();
    const fields: Record<string, string | number> = { userId, name, source: 'demo', createdAt: now, lastActiveAt: now, expiresAt };
    if (userAgent) fields.userAgent = userAgent.slice(0, USER_AGENT_MAX);
    try {
      await this.redis.command
        .multi()
        .hset(sessionKey, fields)
        .pexpireat(sessionKey, expiresAt)
        .exec()
        .then(throwOnMultiError);
      await this.remember(userId, sessionId, expiresAt);
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      this.log.warn({ err: (err as Error).message }, 'login failed: redis unavailable');
      throw new AppError('UNAVAILABLE', 'sessions are unavailable right now, try again shortly');
    }
    return { token, sessionId, userId, name, roles, expiresAt };
  }

  /**
   * Checks a token and its session. While Redis is down a verified, unexpired
   * token is accepted (connected users keep working) unless this replica ended
   * its session; that trade-off is documented in docs/operations.md.
   */
  async authenticate(token: unknown): Promise<TokenClaims | null> {
    const claims = await this.tokens.verify(token);
    if (!claims) return null;
    // Demo tokens stop counting when demo login is turned off.
    if (claims.source === 'demo' && !this.settings.demoLogin) return null;
    if (this.locallyRevoked.has(claims.sessionId)) return null;
    const now = Date.now();
    const open = claims.source === 'idp' ? 1 : 0;
    const keepUntil = claims.expiresAt + (open ? this.settings.clockSkewSec * 1000 : 0);
    const verdict = await this.redis.orLocal(
      'auth.session',
      () => this.checkSession([this.sessionKey(claims.sessionId)], [claims.userId, claims.name, keepUntil, open, now]),
      (): CheckReply => 'ok',
    );
    if (verdict === 'mismatch') this.log.warn({ sessionId: claims.sessionId, userId: claims.userId }, 'token refused: its session belongs to another user');
    if (verdict === 'opened') {
      // The user's list of sessions is a convenience (cleanup, listing): a failure here does not refuse the token.
      this.remember(claims.userId, claims.sessionId, keepUntil).catch((err: Error) => this.log.debug({ err: err.message }, 'session not added to its user'));
    }
    return verdict === 'ok' || verdict === 'opened' ? claims : null;
  }

  /** Logout: ends the caller's own session. */
  async logout(user: SessionUser): Promise<void> {
    this.rememberRevoked(user.sessionId, user.expiresAt + this.settings.clockSkewSec * 1000);
    await this.end(user.sessionId, user.userId);
  }

  /**
   * Ends a session by id: its owner may, an operator (`asker` null) may end any,
   * also one no replica has seen yet (an identity provider's session ended there).
   */
  async revoke(sessionId: string, asker: { userId: string } | null): Promise<void> {
    await this.end(sessionId, asker?.userId ?? '');
    this.rememberRevoked(sessionId, Date.now() + this.settings.ttlSec * 1000);
  }

  private async end(sessionId: string, asker: string): Promise<void> {
    let reply: Awaited<ReturnType<typeof this.endSessionScript>>;
    try {
      reply = await this.endSessionScript([this.sessionKey(sessionId)], [Date.now(), Date.now() + this.settings.ttlSec * 1000, asker]);
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      throw new AppError('UNAVAILABLE', 'sessions are unavailable right now, try again shortly');
    }
    const [verdict, owner] = reply;
    // Another user's session and an unknown one answer alike: ids are not probed through this route.
    if (verdict !== 'ended') throw new AppError('NOT_FOUND', 'no such session of yours');
    if (owner) await this.redis.command.srem(this.userSessionsKey(owner), sessionId).catch(() => 0);
  }

  /**
   * A user's session ids, a batch at a time (SSCAN: the set may be large, and
   * holds ids of expired sessions until the cleanup job drops them).
   */
  async *sessionIdsOf(userId: string): AsyncGenerator<string[]> {
    const key = this.userSessionsKey(userId);
    let cursor = '0';
    do {
      const [next, ids] = await this.redis.command.sscan(key, cursor, 'COUNT', 200);
      cursor = next;
      if (ids.length > 0) yield ids;
    } while (cursor !== '0');
  }

  /** Drops ids of sessions that are gone from the user's set. */
  async forget(userId: string, sessionIds: string[]): Promise<void> {
    if (sessionIds.length > 0) await this.redis.command.srem(this.userSessionsKey(userId), ...sessionIds);
  }

  /** Maintenance: drops ids of expired sessions from every user's session set (SCAN, never KEYS). */
  async pruneExpiredSessions(): Promise<number> {
    let removed = 0;
    for await (const batch of scanEveryPrimary(this.redis.command, this.keys.tagged('u', '*', 'sessions'))) {
      for (const setKey of batch) {
        const ids = await this.redis.command.smembers(setKey);
        if (ids.length === 0) continue;
        // Each session key has its own slot: a cross-slot batch, not a pipeline.
        const p = crossSlotBatch(this.redis.command);
        for (const id of ids) p.exists(this.sessionKey(id));
        const exists = (await p.exec()) ?? [];
        const gone = ids.filter((_, i) => exists[i]?.[1] === 0);
        if (gone.length > 0) removed += await this.redis.command.srem(setKey, ...gone);
      }
    }
    return removed;
  }

  private async remember(userId: string, sessionId: string, until: number): Promise<void> {
    // A separate call: the user's set lives in another hash slot than the session.
    const userSessions = this.userSessionsKey(userId);
    const ttlSec = Math.max(this.settings.ttlSec, Math.ceil((until - Date.now()) / 1000));
    await this.redis.command.multi().sadd(userSessions, sessionId).expire(userSessions, ttlSec).exec().then(throwOnMultiError);
  }

  private rememberRevoked(sessionId: string, until: number): void {
    const now = Date.now();
    for (const [sid, exp] of this.locallyRevoked) if (exp < now) this.locallyRevoked.delete(sid);
    this.locallyRevoked.set(sessionId, until);
  }

  /** The session's hash (devices.ts reads and notes activity in it). */
  sessionKey(sessionId: string): string {
    return this.keys.plain('session', sessionId);
  }

  private userSessionsKey(userId: string): string {
    return this.keys.tagged('u', userId, 'sessions');
  }
}
