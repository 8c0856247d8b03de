import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { resolveSecretFiles } from '../../src/infra/secrets';

describe('secrets from files (*_FILE)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-secrets-'));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads AUTH_SECRET_FILE, REDIS_URL_FILE and MONGO_URL_FILE, trimming one trailing newline', () => {
    const c = loadConfig({
      AUTH_SECRET_FILE: file('auth', 'a-production-secret-of-32-chars!\n'),
      REDIS_URL_FILE: file('redis', 'rediss://:pw@redis.example:6380\n'),
      MONGO_URL_FILE: file('mongo', 'mongodb://u:p@mongo.example:27017/sb'),
    });
    expect(c.AUTH_SECRET).toBe('a-production-secret-of-32-chars!');
    expect(c.REDIS_URL).toBe('rediss://:pw@redis.example:6380');
    expect(c.MONGO_URL).toBe('mongodb://u:p@mongo.example:27017/sb');
  });

  it('reads REDIS_PASSWORD_FILE into REDIS_PASSWORD, used by every Redis mode', () => {
    const env = resolveSecretFiles({ REDIS_URL: 'rediss://redis:6379/0', REDIS_PASSWORD_FILE: file('pw', 'p@ss/word\n') });
    expect(env.REDIS_PASSWORD).toBe('p@ss/word');
    expect(env.REDIS_URL).toBe('rediss://redis:6379/0');
    expect(env.REDIS_PASSWORD_FILE).toBeUndefined();
    expect(loadConfig({ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 's1', REDIS_PASSWORD_FILE: file('pw3', 'secret') }).REDIS_PASSWORD).toBe('secret');
  });

  it('refuses NAME and NAME_FILE together, unreadable and empty files, and two passwords', () => {
    expect(() => loadConfig({ AUTH_SECRET: 'x'.repeat(20), AUTH_SECRET_FILE: file('a2', 'y'.repeat(20)) })).toThrow(/AUTH_SECRET or AUTH_SECRET_FILE/);
    expect(() => loadConfig({ AUTH_SECRET_FILE: path.join(dir, 'missing') })).toThrow(/AUTH_SECRET_FILE: cannot read .*ENOENT/);
    expect(() => loadConfig({ MONGO_URL_FILE: file('empty', '\n') })).toThrow(/MONGO_URL_FILE: .* is empty/);
    expect(() => loadConfig({ REDIS_URL: 'redis://:a@r:6379', REDIS_PASSWORD_FILE: file('pw2', 'b') })).toThrow(/REDIS_URL already has a password/);
    expect(() => loadConfig({ REDIS_PASSWORD: 'a', REDIS_PASSWORD_FILE: file('pw4', 'b') })).toThrow(/REDIS_PASSWORD or REDIS_PASSWORD_FILE/);
  });

  it('leaves the environment alone when no *_FILE is set', () => {
    const env = { AUTH_SECRET: 'z'.repeat(16) };
    expect(resolveSecretFiles(env)).toEqual(env);
  });
});
