import { randomUUID } from 'node:crypto';
import { AppError } from '../infra/errors';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import { throwOnMultiError, type RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import { crossSlotBatch, scanEveryPrimary } from '../infra/redis-topology';
import { signToken, verifyToken, type TokenClaims } from './tokens';

export type { TokenClaims };

export interface LoginResult {
  token: string;
  sessionId: string;
  userId: string;
  name: string;
  expiresAt: number;
}

/**
 * Login sessions: a signed token names a session record in Redis, so a user
 * can log in from several devices and each session can be revoked on its own.
 *
 * Keys: <p>session:<sid> (hash, TTL = session lifetime) and
 * <p>{u:<userId>}:sessions (set of the user's session ids).
 */
export class AuthService {
  /** Sessions revoked through this replica, so they stay refused during a Redis outage. */
  private readonly locallyRevoked = new Map<string, number>();

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly secret: string,
    private readonly ttlSec: number,
    private readonly log: Logger,
  ) {}

  async login(userId: string, name: string): Promise<LoginResult> {
    const sessionId = randomUUID();
    const { token, expiresAt } = signToken({ userId, sessionId, name }, this.secret, this.ttlSec);
    const sessionKey = this.sessionKey(sessionId);
    const userSessions = this.keys.tagged('u', userId, 'sessions');
    try {
      await this.redis.command
        .multi()
        .hset(sessionKey, { userId, name, createdAt: Date.now(), expiresAt })
        .pexpireat(sessionKey, expiresAt)
        .exec()
        .then(throwOnMultiError);
      // A separate call: the user's set lives in another hash slot than the session.
      await this.redis.command.multi().sadd(userSessions, sessionId).expire(userSessions, this.ttlSec).exec().then(throwOnMultiError);
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      this.log.warn({ err: (err as Error).message }, 'login failed: redis unavailable');
      throw new AppError('UNAVAILABLE', 'sessions are unavailable right now, try again shortly');
    }
    return { token, sessionId, userId, name, expiresAt };
  }

  /**
   * Checks a token and its session. While Redis is down a correctly signed,
   * unexpired token is accepted (connected users keep working) unless this
   * replica revoked it; that trade-off is documented in docs/operations.md.
   */
  async authenticate(token: unknown): Promise<TokenClaims | null> {
    const claims = verifyToken(token, this.secret);
    if (!claims) return null;
    if (this.locallyRevoked.has(claims.sessionId)) return null;
    const exists = await this.redis.orLocal('auth.session', () => this.redis.command.exists(this.sessionKey(claims.sessionId)), () => 1);
    return exists === 1 ? claims : null;
  }

  async logout(claims: TokenClaims): Promise<void> {
    this.rememberRevoked(claims);
    try {
      await this.redis.command.del(this.sessionKey(claims.sessionId));
      await this.redis.command.srem(this.keys.tagged('u', claims.userId, 'sessions'), claims.sessionId);
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      throw new AppError('UNAVAILABLE', 'sessions are unavailable right now, try again shortly');
    }
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

  private rememberRevoked(claims: TokenClaims): void {
    const now = Date.now();
    for (const [sid, exp] of this.locallyRevoked) if (exp < now) this.locallyRevoked.delete(sid);
    this.locallyRevoked.set(claims.sessionId, claims.expiresAt);
  }

  private sessionKey(sessionId: string): string {
    return this.keys.plain('session', sessionId);
  }
}
