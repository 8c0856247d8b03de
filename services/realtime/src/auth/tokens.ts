import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { SessionUser } from '@switchboard/protocol';

/** What a login token carries: the user and the Redis session that vouches for it. */
export type TokenClaims = SessionUser;

const ISSUER = 'switchboard';

// Given a string, jsonwebtoken first tries to parse it as a PEM key and catches
// the failure on every sign and verify (a measurable share of a connect storm's
// CPU). A KeyObject made once per secret skips that.
let lastKey: { secret: string; key: KeyObject } | undefined;
function hmacKey(secret: string): KeyObject {
  if (lastKey?.secret !== secret) lastKey = { secret, key: createSecretKey(Buffer.from(secret)) };
  return lastKey.key;
}

/** HS256 token naming a session; revocation lives in Redis, the signature only proves we issued it. */
export function signToken(claims: Omit<TokenClaims, 'expiresAt'>, secret: string, ttlSec: number, now = Date.now()): { token: string; expiresAt: number } {
  const iat = Math.floor(now / 1000);
  const exp = iat + ttlSec;
  const token = jwt.sign({ sub: claims.userId, sid: claims.sessionId, name: claims.name, iat, exp }, hmacKey(secret), {
    algorithm: 'HS256',
    issuer: ISSUER,
  });
  return { token, expiresAt: exp * 1000 };
}

/** Returns the claims of a valid token, or null for a missing, forged, malformed or expired one. */
export function verifyToken(token: unknown, secret: string, now = Date.now()): TokenClaims | null {
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return null;
  try {
    const payload = jwt.verify(token, hmacKey(secret), {
      algorithms: ['HS256'],
      issuer: ISSUER,
      clockTimestamp: Math.floor(now / 1000),
    });
    if (typeof payload !== 'object' || payload === null) return null;
    const { sub, sid, name, exp } = payload as Record<string, unknown>;
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof exp !== 'number') return null;
    return { userId: sub, sessionId: sid, name: typeof name === 'string' ? name : sub, expiresAt: exp * 1000 };
  } catch (err) {
    // Forged, malformed, expired or not yet valid (TokenExpiredError and NotBeforeError are JsonWebTokenErrors too).
    if (err instanceof jwt.JsonWebTokenError) return null;
    throw err;
  }
}
