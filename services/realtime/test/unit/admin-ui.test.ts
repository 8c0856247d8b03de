import bcrypt from 'bcryptjs';
import { AdminCredentials } from '../../src/admin/credentials';
import { localIndexHtml } from '../../src/admin/ui-files';
import { loadConfig } from '../../src/config';

const PROD = { NODE_ENV: 'production', AUTH_PUBLIC_KEY_FILE: '/run/secrets/k', AUTH_ISSUER: 'https://idp.example', AUTH_AUDIENCE: 'switchboard' };

describe('admin UI settings', () => {
  it('is off unless a password or a bcrypt hash is set; its mode follows NODE_ENV unless named', () => {
    const dev = loadConfig({});
    expect([dev.ADMIN_UI_PASSWORD, dev.ADMIN_UI_PASSWORD_HASH]).toEqual([undefined, undefined]);
    expect(dev).toMatchObject({ ADMIN_UI_USERNAME: 'admin', ADMIN_UI_MODE: 'development' });
    expect(loadConfig(PROD).ADMIN_UI_MODE).toBe('production');
    expect(loadConfig({ ...PROD, ADMIN_UI_MODE: 'development' }).ADMIN_UI_MODE).toBe('development');
    expect(() => loadConfig({ ADMIN_UI_MODE: 'verbose' })).toThrow(/ADMIN_UI_MODE/);
  });

  it('refuses a short, overlong or example password, a malformed hash, and both at once', () => {
    expect(() => loadConfig({ ADMIN_UI_PASSWORD: 'short' })).toThrow(/ADMIN_UI_PASSWORD: must be at least 12 characters/);
    expect(() => loadConfig({ ADMIN_UI_PASSWORD: 'é'.repeat(40) })).toThrow(/at most 72 bytes/);
    expect(() => loadConfig({ ...PROD, ADMIN_UI_PASSWORD: 'REPLACE-with-a-password' })).toThrow(/ADMIN_UI_PASSWORD: is an example value/);
    expect(() => loadConfig({ ADMIN_UI_PASSWORD_HASH: 'changeit' })).toThrow(/ADMIN_UI_PASSWORD_HASH: must be a bcrypt hash/);
    const hash = bcrypt.hashSync('a-long-enough-password', 4);
    expect(loadConfig({ ...PROD, ADMIN_UI_PASSWORD_HASH: hash }).ADMIN_UI_PASSWORD_HASH).toBe(hash);
    expect(() => loadConfig({ ADMIN_UI_PASSWORD: 'a-long-enough-password', ADMIN_UI_PASSWORD_HASH: hash })).toThrow(/not both/);
  });
});

describe('admin UI credentials', () => {
  const config = { ADMIN_UI_USERNAME: 'admin', ADMIN_UI_PASSWORD: 'a-long-enough-password', ADMIN_UI_PASSWORD_HASH: undefined };

  it('checks the name and password; hashes only when allowed, and once per pair that passed', async () => {
    const creds = (await AdminCredentials.fromConfig(config))!;
    let hashes = 0;
    const allow = async () => (hashes++, true);
    expect(await creds.check('admin', 'a-long-enough-password', allow)).toBe('ok');
    expect(await creds.check('admin', 'a-long-enough-password', allow)).toBe('ok');
    expect(hashes).toBe(1);
    expect(await creds.check('root', 'a-long-enough-password', allow)).toBe('wrong');
    expect(await creds.check('admin', 'wrong-password', allow)).toBe('wrong');
    expect(await creds.check('admin', { $ne: 1 }, allow)).toBe('wrong');
    expect(await creds.check('admin', 'x'.repeat(5000), allow)).toBe('wrong');
    expect(hashes).toBe(3);
    expect(await creds.check('admin', 'another-guess', async () => false)).toBe('limited');
  });

  it('takes a bcrypt hash instead of the password ($2y$ of htpasswd too), and is absent without either', async () => {
    const hash = bcrypt.hashSync('from-a-hash-only', 4).replace(/^\$2a\$/, '$2y$');
    const creds = (await AdminCredentials.fromConfig({ ...config, ADMIN_UI_PASSWORD: undefined, ADMIN_UI_PASSWORD_HASH: hash }))!;
    expect(await creds.check('admin', 'from-a-hash-only', async () => true)).toBe('ok');
    expect(await AdminCredentials.fromConfig({ ...config, ADMIN_UI_PASSWORD: undefined })).toBeUndefined();
  });
});

describe("the admin UI's page", () => {
  it('loads its fonts and icons from our own files, nothing from another host', () => {
    const html = localIndexHtml();
    expect(html).not.toMatch(/googleapis|jsdelivr|(href|src)="(https?:)?\/\//);
    expect(html).toContain('href="vendor/mdi/css/materialdesignicons.min.css"');
    expect(html).toContain('href="vendor/roboto/400.css"');
  });
});
