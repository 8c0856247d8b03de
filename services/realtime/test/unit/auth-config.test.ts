import { loadConfig, SHIPPED_SECRETS } from '../../src/config';

// What an identity provider's setup looks like in production: its key, issuer and audience.
const IDP = { AUTH_PUBLIC_KEY_FILE: '/run/secrets/auth_public_key', AUTH_ISSUER: 'https://idp.example', AUTH_AUDIENCE: 'switchboard' };
const PROD = { NODE_ENV: 'production', ...IDP };
const STRONG = 'q9Zr2Lk7Vx0BwT4sHc8NyE1pGm6AuJd3Fo5Ri+/Q'; // 40 random-looking bytes

describe('authentication settings', () => {
  it('in development: demo login off unless asked, a dev HMAC secret, no identity provider needed', () => {
    const c = loadConfig({});
    expect(c.AUTH_DEMO_LOGIN).toBe(false);
    expect(c.AUTH_SECRET).toBe('switchboard-dev-secret-change-me');
    expect(loadConfig({ AUTH_DEMO_LOGIN: 'true' }).AUTH_DEMO_LOGIN).toBe(true);
    expect(() => loadConfig({ AUTH_DEMO_LOGIN: 'yes' })).toThrow(/AUTH_DEMO_LOGIN: must be true or false/);
    expect(() => loadConfig({ AUTH_DEMO_ADMINS: 'alice' })).toThrow(/AUTH_DEMO_ADMINS: is only read when AUTH_DEMO_LOGIN=true/);
  });

  it('in production: starts with an identity provider, its issuer and audience, and no HMAC secret at all', () => {
    const c = loadConfig(PROD);
    expect(c.AUTH_SECRET).toBeUndefined();
    expect(c.AUTH_DEMO_LOGIN).toBe(false);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_JWKS_FILE: production needs your identity provider's keys/);
    expect(() => loadConfig({ ...PROD, AUTH_ISSUER: undefined })).toThrow(/AUTH_ISSUER: is required in production/);
    expect(() => loadConfig({ ...PROD, AUTH_AUDIENCE: undefined })).toThrow(/AUTH_AUDIENCE: is required in production/);
    expect(() => loadConfig({ ...PROD, AUTH_JWKS_FILE: '/x.json' })).toThrow(/not both/);
  });

  it('in production: refuses demo login unless AUTH_DEMO_LOGIN_IN_PRODUCTION=yes-i-know', () => {
    expect(() => loadConfig({ ...PROD, AUTH_DEMO_LOGIN: 'true', AUTH_SECRET: STRONG })).toThrow(/AUTH_DEMO_LOGIN: lets anyone log in as anyone/);
    expect(() => loadConfig({ ...PROD, AUTH_DEMO_LOGIN: 'true', AUTH_SECRET: STRONG, AUTH_DEMO_LOGIN_IN_PRODUCTION: 'yes' })).toThrow(/AUTH_DEMO_LOGIN_IN_PRODUCTION: must be unset or exactly yes-i-know/);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_DEMO_LOGIN: 'true', AUTH_SECRET: STRONG, AUTH_DEMO_LOGIN_IN_PRODUCTION: 'yes-i-know' }).AUTH_DEMO_LOGIN).toBe(true);
    // Demo login signs with AUTH_SECRET: production has no dev default to fall back on.
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_DEMO_LOGIN: 'true', AUTH_DEMO_LOGIN_IN_PRODUCTION: 'yes-i-know' })).toThrow(/AUTH_SECRET: demo login in production signs with AUTH_SECRET/);
  });

  it.each([...SHIPPED_SECRETS, 'my-example-secret-that-is-long-enough-0123456789'])('in production: refuses the shipped or placeholder secret %s', (secret) => {
    expect(() => loadConfig({ ...PROD, AUTH_SECRET: secret })).toThrow(/AUTH_SECRET: is a secret shipped with Switchboard/);
  });

  it('in production: an HMAC secret needs at least 32 random bytes', () => {
    expect(() => loadConfig({ ...PROD, AUTH_SECRET: 'short-but-sixteen+' })).toThrow(/AUTH_SECRET: needs at least 32 random bytes/);
    expect(() => loadConfig({ ...PROD, AUTH_SECRET: 'ab'.repeat(24) })).toThrow(/AUTH_SECRET: needs at least 32 random bytes/);
    expect(loadConfig({ ...PROD, AUTH_SECRET: STRONG }).AUTH_SECRET).toBe(STRONG);
  });
});
