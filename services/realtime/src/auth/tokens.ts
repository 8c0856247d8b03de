import { createHash, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { SESSION_ID_RE, USER_ID_RE, type SessionUser } from '@switchboard/protocol';

/** What a verified token names: the user, the session that can be ended, the roles, the expiry. */
export type TokenClaims = SessionUser & {
  /** `demo`: signed by this service at POST /api/login; `idp`: by the team's identity provider. */
  source: 'demo' | 'idp';
};

/** The issuer of the demo login's own HS256 tokens. */
export const DEMO_ISSUER = 'switchboard';
/** Asymmetric algorithms accepted from an identity provider; HS256 is only the demo login's. */
export const IDP_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
const MAX_TOKEN_CHARS = 8192;

export interface TokenSettings {
  /** HMAC key of demo tokens; unset: demo tokens are neither signed nor accepted. */
  demoSecret?: string;
  /** A JWKS (its JSON) or one PEM public key of the identity provider. */
  jwks?: JSONWebKeySet;
  publicKeyPem?: string;
  issuer?: string;
  audience?: string;
  clockSkewSec: number;
  rolesClaim: string;
}

/** Reads AUTH_JWKS_FILE or AUTH_PUBLIC_KEY_FILE; a missing, unreadable or malformed file stops the start with its name. */
export function readIdentityProviderKeys(config: { AUTH_JWKS_FILE?: string; AUTH_PUBLIC_KEY_FILE?: string }): Pick<TokenSettings, 'jwks' | 'publicKeyPem'> {
  const read = (name: string, file: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`Invalid configuration:\n  ${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  if (config.AUTH_JWKS_FILE) {
    const text = read('AUTH_JWKS_FILE', config.AUTH_JWKS_FILE);
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(text) as JSONWebKeySet;
      createLocalJWKSet(jwks);
    } catch (err) {
      throw new Error(`Invalid configuration:\n  AUTH_JWKS_FILE: ${config.AUTH_JWKS_FILE} is not a JWKS (${(err as Error).message})`);
    }
    if (!jwks.keys.some((k) => !k.alg || (IDP_ALGORITHMS as readonly string[]).includes(k.alg))) {
      throw new Error(`Invalid configuration:\n  AUTH_JWKS_FILE: no key for ${IDP_ALGORITHMS.join(', ')}`);
    }
    return { jwks };
  }
  if (config.AUTH_PUBLIC_KEY_FILE) {
    const pem = read('AUTH_PUBLIC_KEY_FILE', config.AUTH_PUBLIC_KEY_FILE);
    // Node would derive the public half of a private key: refuse it, the private key belongs to the identity provider alone.
    if (/PRIVATE KEY/.test(pem)) throw new Error(`Invalid configuration:\n  AUTH_PUBLIC_KEY_FILE: holds a private key; give the identity provider's public key (the private one never goes to the replicas)`);
    try {
      algorithmOf(createPublicKey(pem));
    } catch (err) {
      throw new Error(`Invalid configuration:\n  AUTH_PUBLIC_KEY_FILE: ${(err as Error).message}`);
    }
    return { publicKeyPem: pem };
  }
  return {};
}

/** The one algorithm a PEM key verifies: RSA -> RS256, P-256 -> ES256, Ed25519 -> EdDSA. */
function algorithmOf(key: KeyObject): (typeof IDP_ALGORITHMS)[number] {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  throw new Error(`a ${key.asymmetricKeyType} key is not one of RSA (RS256), P-256 (ES256) or Ed25519 (EdDSA)`);
}

/**
 * Signs the demo login's tokens and verifies every token: the demo's own HS256
 * ones (issuer `switchboard`), and the identity provider's (RS256, ES256, EdDSA)
 * against its keys, `iss`, `aud`, `exp` and `nbf` with the configured skew.
 * Revocation is not here: the signature only proves who issued a token; the
 * session record in Redis says whether it still counts (auth/index.ts).
 */
export class TokenService {
  private constructor(
    private readonly settings: TokenSettings,
    private readonly hmac: webcrypto.CryptoKey | undefined,
    private readonly idpKey: JWTVerifyGetKey | KeyObject | undefined,
    private readonly idpAlgorithms: string[],
  ) {}

  static async create(settings: TokenSettings): Promise<TokenService> {
    // Imported once: jose would import a raw secret again on every sign and verify.
    const hmac = settings.demoSecret
      ? await webcrypto.subtle.importKey('raw', Buffer.from(settings.demoSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
      : undefined;
    if (settings.jwks) return new TokenService(settings, hmac, createLocalJWKSet(settings.jwks), [...IDP_ALGORITHMS]);
    if (settings.publicKeyPem) {
      const key = createPublicKey(settings.publicKeyPem);
      return new TokenService(settings, hmac, key, [algorithmOf(key)]);
    }
    return new TokenService(settings, hmac, undefined, []);
  }

  get acceptsIdentityProviderTokens(): boolean {
    return this.idpKey !== undefined;
  }

  /** An HS256 demo token naming a session; only while demo login is on. */
  async signDemo(claims: Omit<SessionUser, 'expiresAt'>, ttlSec: number, now = Date.now()): Promise<{ token: string; expiresAt: number }> {
    if (!this.hmac) throw new Error('demo tokens need AUTH_SECRET');
    const iat = Math.floor(now / 1000);
    const exp = iat + ttlSec;
    const token = await new SignJWT({ sid: claims.sessionId, name: claims.name, roles: claims.roles })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuer(DEMO_ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.hmac);
    return { token, expiresAt: exp * 1000 };
  }

  /** The claims of a valid token, or null for a missing, forged, malformed, expired, foreign or unusable one. */
  async verify(token: unknown, now = Date.now()): Promise<TokenClaims | null> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) return null;
    try {
      const { alg } = decodeProtectedHeader(token);
      if (alg === 'HS256') {
        if (!this.hmac) return null;
        const { payload } = await jwtVerify(token, this.hmac, {
          algorithms: ['HS256'],
          issuer: DEMO_ISSUER,
          requiredClaims: ['sub', 'exp', 'sid'],
          currentDate: new Date(now),
        });
        return this.claimsOf(payload, token, 'demo');
      }
      if (!this.idpKey || !alg || !this.idpAlgorithms.includes(alg)) return null;
      const options = {
        algorithms: this.idpAlgorithms,
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: this.settings.clockSkewSec,
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(now),
      };
      const { payload } =
        typeof this.idpKey === 'function' ? await jwtVerify(token, this.idpKey, options) : await jwtVerify(token, this.idpKey, options);
      return this.claimsOf(payload, token, 'idp');
    } catch (err) {
      // Forged, malformed, expired, not yet valid, wrong issuer or audience, no matching key.
      if (err instanceof joseErrors.JOSEError || err instanceof TypeError || err instanceof SyntaxError) return null;
      throw err;
    }
  }

  private claimsOf(payload: JWTPayload, token: string, source: TokenClaims['source']): TokenClaims | null {
    const { sub, exp } = payload;
    if (typeof sub !== 'string' || !USER_ID_RE.test(sub) || typeof exp !== 'number') return null;
    const sessionId = sessionIdOf(payload, token);
    if (!sessionId) return null;
    const name = [payload.name, payload.preferred_username].find((n): n is string => typeof n === 'string' && n.trim().length > 0 && n.length <= 64);
    return { userId: sub, sessionId, name: name?.trim() ?? sub, roles: rolesOf(claimAt(payload, this.settings.rolesClaim)), expiresAt: exp * 1000, source };
  }
}

/**
 * The session a token belongs to: its `sid`, else its `jti`, else a digest of
 * the token itself (that token alone is then the session). An id outside
 * SESSION_ID_RE makes the token unusable rather than silently renamed.
 */
function sessionIdOf(payload: JWTPayload, token: string): string | null {
  const id = payload.sid ?? payload.jti;
  if (id === undefined) return `t-${createHash('sha256').update(token).digest('base64url').slice(0, 32)}`;
  return typeof id === 'string' && SESSION_ID_RE.test(id) ? id : null;
}

function claimAt(payload: JWTPayload, path: string): unknown {
  let v: unknown = payload;
  for (const part of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

/** An array of strings or a space-separated string (like `scope`); anything else is no roles. */
function rolesOf(v: unknown): string[] {
  const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(' ') : [];
  return [...new Set(list.filter((r): r is string => typeof r === 'string' && r.length > 0 && r.length <= 64))].slice(0, 32);
}
