import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A stand-in identity provider for the tests: key pairs of every algorithm the
 * service accepts, and tokens signed with node:crypto alone (not with the
 * service's JWT library, so a bug there cannot hide on both sides).
 */
export const IDP_ISSUER = 'https://idp.test.example';
export const IDP_AUDIENCE = 'switchboard-realtime';
export type IdpAlg = 'RS256' | 'ES256' | 'EdDSA';

export const idpKeys: Record<IdpAlg, { publicKey: KeyObject; privateKey: KeyObject }> = {
  RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  EdDSA: generateKeyPairSync('ed25519'),
};

/** The provider's public keys as a JWKS, each with its kid (the algorithm's name) and alg. */
export function idpJwks(): { keys: object[] } {
  return { keys: (Object.keys(idpKeys) as IdpAlg[]).map((alg) => ({ ...idpKeys[alg].publicKey.export({ format: 'jwk' }), kid: alg, alg, use: 'sig' })) };
}

/** Writes the JWKS into `dir` and returns the service's environment for it. */
export function idpEnv(dir: string): Record<string, string> {
  const file = path.join(dir, 'jwks.json');
  fs.writeFileSync(file, JSON.stringify(idpJwks()));
  return { AUTH_JWKS_FILE: file, AUTH_ISSUER: IDP_ISSUER, AUTH_AUDIENCE: IDP_AUDIENCE };
}

/** A compact JWS over `claims` (iss, aud, iat and a 10-minute exp unless given; undefined drops a claim). */
export function idpToken(claims: Record<string, unknown>, opts: { alg?: IdpAlg; key?: KeyObject; now?: number } = {}): string {
  const alg = opts.alg ?? 'RS256';
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const payload = { iss: IDP_ISSUER, aud: IDP_AUDIENCE, iat, exp: iat + 600, ...claims };
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = Buffer.from(`${b64({ alg, typ: 'JWT', kid: alg })}.${b64(payload)}`);
  const key = opts.key ?? idpKeys[alg].privateKey;
  const signature = alg === 'EdDSA' ? sign(null, input, key) : sign('sha256', input, alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${input.toString()}.${signature.toString('base64url')}`;
}
