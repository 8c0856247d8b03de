import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { TokenService, type TokenSettings } from '../../src/auth/tokens';
import { IDP_AUDIENCE, IDP_ISSUER, idpKeys, idpToken as signIdp, type IdpAlg } from '../support/idp';

const SECRET = 'a-test-secret-of-some-length';
const NOW = Date.UTC(2026, 0, 1);
const sec = (ms: number) => Math.floor(ms / 1000);

const pairs = idpKeys;
type Alg = IdpAlg;
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
const IDP = { issuer: IDP_ISSUER, audience: IDP_AUDIENCE };
/** Ann's token from the test identity provider, at NOW. */
const idpToken = (alg: Alg, claims: Record<string, unknown> = {}, opts: { key?: KeyObject } = {}) =>
  signIdp({ sub: 'ann', sid: 'idp-session-1', ...claims }, { alg, key: opts.key, now: NOW });

const settings = (extra: Partial<TokenSettings> = {}): TokenSettings => ({ clockSkewSec: 30, rolesClaim: 'roles', ...IDP, ...extra });

describe('demo login tokens (HS256, AUTH_SECRET)', () => {
  it('round-trips the claims, roles and expiry', async () => {
    const tokens = await TokenService.create(settings({ demoSecret: SECRET }));
    const { token, expiresAt } = await tokens.signDemo({ userId: 'ann', sessionId: 's-1', name: 'Ann', roles: ['admin'] }, 3600, NOW);
    expect(expiresAt).toBe(NOW + 3600_000);
    expect(await tokens.verify(token, NOW + 1000)).toEqual({ userId: 'ann', sessionId: 's-1', name: 'Ann', roles: ['admin'], expiresAt, source: 'demo' });
  });

  it('refuses expired, forged, tampered, alg none and malformed tokens, and every HS256 token without a secret', async () => {
    const tokens = await TokenService.create(settings({ demoSecret: SECRET }));
    const { token } = await tokens.signDemo({ userId: 'ann', sessionId: 's-1', name: 'Ann', roles: [] }, 60, NOW);
    expect(await tokens.verify(token, NOW + 61_000)).toBeNull();
    const other = await TokenService.create(settings({ demoSecret: 'another-secret-entirely' }));
    expect(await other.verify(token, NOW)).toBeNull();
    expect(await (await TokenService.create(settings())).verify(token, NOW)).toBeNull();
    const [h, p, s] = token.split('.');
    const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), roles: ['admin'] })).toString('base64url');
    expect(await tokens.verify(`${h}.${tampered}.${s}`, NOW)).toBeNull();
    const none = jwt.sign({ sub: 'ann', sid: 's-1', iss: 'switchboard', exp: sec(NOW) + 60 }, '', { algorithm: 'none' });
    expect(await tokens.verify(none, NOW)).toBeNull();
    for (const bad of [undefined, null, 42, '', 'a.b.c', 'x'.repeat(9000)]) expect(await tokens.verify(bad, NOW)).toBeNull();
  });
});

describe.each(Object.keys(pairs) as Alg[])('identity-provider tokens, %s', (alg) => {
  it('verifies with the PEM public key and with a JWKS', async () => {
    const fromPem = await TokenService.create(settings({ publicKeyPem: pem(pairs[alg].publicKey) }));
    const jwk = { ...pairs[alg].publicKey.export({ format: 'jwk' }), kid: alg, alg };
    const fromJwks = await TokenService.create(settings({ jwks: { keys: [jwk] } }));
    const token = idpToken(alg, { roles: ['admin', 'ops'], name: 'Ann A.' });
    for (const tokens of [fromPem, fromJwks]) {
      expect(await tokens.verify(token, NOW)).toEqual({ userId: 'ann', sessionId: 'idp-session-1', name: 'Ann A.', roles: ['admin', 'ops'], expiresAt: (sec(NOW) + 600) * 1000, source: 'idp' });
    }
  });

  it('refuses a wrong issuer, a wrong audience, another key, and exp/nbf beyond the skew', async () => {
    const tokens = await TokenService.create(settings({ publicKeyPem: pem(pairs[alg].publicKey) }));
    expect(await tokens.verify(idpToken(alg, { iss: 'https://evil.example' }), NOW)).toBeNull();
    expect(await tokens.verify(idpToken(alg, { aud: 'another-app' }), NOW)).toBeNull();
    const stranger = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    expect(await tokens.verify(idpToken(alg, {}, { key: stranger.privateKey }), NOW)).toBeNull();
    // Within the 30 s skew: accepted; beyond it: refused.
    const expired = idpToken(alg, { exp: sec(NOW) - 20 });
    expect(await tokens.verify(expired, NOW)).not.toBeNull();
    expect(await tokens.verify(expired, NOW + 15_000)).toBeNull();
    const early = idpToken(alg, { nbf: sec(NOW) + 20 });
    expect(await tokens.verify(early, NOW)).not.toBeNull();
    expect(await tokens.verify(early, NOW - 15_000)).toBeNull();
    expect(await tokens.verify(idpToken(alg, { exp: undefined }), NOW)).toBeNull();
  });
});

describe('identity-provider tokens: claims', () => {
  const tokensP = TokenService.create(settings({ publicKeyPem: pem(pairs.ES256.publicKey) }));

  it('refuses an HS256 token signed with the public key as its secret (algorithm confusion)', async () => {
    const tokens = await TokenService.create(settings({ publicKeyPem: pem(pairs.RS256.publicKey) }));
    const confused = jwt.sign({ sub: 'ann', sid: 's', iss: IDP.issuer, aud: IDP.audience, exp: sec(NOW) + 60 }, pem(pairs.RS256.publicKey), { algorithm: 'HS256' });
    expect(await tokens.verify(confused, NOW)).toBeNull();
  });

  it('names the session by sid, else jti, else a digest of the token; an unusable sid or sub refuses it', async () => {
    const tokens = await tokensP;
    expect((await tokens.verify(idpToken('ES256', { sid: undefined, jti: 'jti-7' }), NOW))?.sessionId).toBe('jti-7');
    const bare = idpToken('ES256', { sid: undefined });
    expect((await tokens.verify(bare, NOW))?.sessionId).toMatch(/^t-[A-Za-z0-9_-]{32}$/);
    expect((await tokens.verify(bare, NOW))?.sessionId).toBe((await tokens.verify(bare, NOW))?.sessionId);
    expect(await tokens.verify(idpToken('ES256', { sid: 'has spaces/and slashes' }), NOW)).toBeNull();
    expect(await tokens.verify(idpToken('ES256', { sub: 'user:with:colons' }), NOW)).toBeNull();
  });

  it('reads roles as an array or a space-separated string, at a nested claim when told', async () => {
    const tokens = await tokensP;
    expect((await tokens.verify(idpToken('ES256', { roles: 'admin viewer' }), NOW))?.roles).toEqual(['admin', 'viewer']);
    expect((await tokens.verify(idpToken('ES256', { roles: { admin: true } }), NOW))?.roles).toEqual([]);
    expect((await tokens.verify(idpToken('ES256', {}), NOW))?.roles).toEqual([]);
    const nested = await TokenService.create(settings({ publicKeyPem: pem(pairs.ES256.publicKey), rolesClaim: 'realm_access.roles' }));
    expect((await nested.verify(idpToken('ES256', { realm_access: { roles: ['admin'] } }), NOW))?.roles).toEqual(['admin']);
  });
});
