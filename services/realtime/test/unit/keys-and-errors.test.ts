import { loadConfig } from '../../src/config';
import { AppError, toErrorBody } from '../../src/infra/errors';
import { Keyspace } from '../../src/infra/keys';
import { uniqueUsers } from '../../src/rooms';

describe('key naming', () => {
  it('puts the id in a hash tag so related keys share a cluster slot', () => {
    const k = new Keyspace('sb:');
    expect(k.tagged('room', 'lobby', 'members')).toBe('sb:{room:lobby}:members');
    expect(k.tagged('u', '42', 'conns')).toBe('sb:{u:42}:conns');
    expect(k.plain('presence', 'users')).toBe('sb:presence:users');
  });

  it('reads user ids out of room member entries', () => {
    expect(uniqueUsers(['n1:s1:ann', 'n2:s9:ann', 'n1:s2:bob'])).toEqual(['ann', 'bob']);
  });
});

describe('error bodies', () => {
  it('passes AppErrors through and hides everything else', () => {
    expect(toErrorBody(new AppError('RATE_LIMITED', 'slow down', { retryAfterMs: 500 }))).toEqual({
      ok: false,
      error: { code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 500 },
    });
    expect(toErrorBody(new Error('secret stack detail'))).toEqual({ ok: false, error: { code: 'INTERNAL', message: 'internal error' } });
  });
});

describe('configuration', () => {
  it('has a default for everything', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 3000, REDIS_KEY_PREFIX: 'sb:', PRESENCE_TTL_MS: 30_000, PRESENCE_REFRESH_MS: 10_000 });
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud' })).toThrow(/PORT[\s\S]*LOG_LEVEL/);
    expect(() => loadConfig({ PRESENCE_TTL_MS: '1000', PRESENCE_REFRESH_MS: '1000' })).toThrow(/PRESENCE_TTL_MS: must be at least twice/);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_JWKS_FILE: production needs/);
    expect(() => loadConfig({ TRUST_PROXY: 'nginx' })).toThrow(/TRUST_PROXY/);
  });

  it('believes no forwarded header unless told how many proxies stand in front', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe(0);
    expect(loadConfig({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
  });
});
