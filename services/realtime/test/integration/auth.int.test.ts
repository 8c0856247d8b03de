// Authentication through real replicas: identity-provider tokens (JWKS: RS256, ES256, EdDSA),
// sessions bound to their user, logout/revoke/expiry ending a session's sockets in every
// namespace on every replica, operators-only views, and demo login only when turned on.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import type { Socket } from 'socket.io-client';
import { api, connect, emitAck, login, startCluster, type Cluster } from '../support/cluster';
import { idpEnv, idpKeys, idpToken, type IdpAlg } from '../support/idp';
import { SERVICE_ROOT, tempDir } from '../support/processes';

const DEV_SECRET = 'switchboard-dev-secret-change-me';

/** A connected /dispatch socket (the namespace in the url); rejects with the connect_error message. */
const connectDispatch = (url: string, token: string) => connect(`${url}/dispatch`, token);

const disconnected = (s: Socket) => new Promise<string>((resolve) => (s.connected ? s.once('disconnect', (reason) => resolve(reason)) : resolve('already')));

describe('authentication with an identity provider and demo login (dev)', () => {
  let cluster: Cluster;
  const dir = tempDir('auth');
  const opened: Socket[] = [];
  const track = <T extends Socket>(s: T) => (opened.push(s), s);

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2, env: { ...idpEnv(dir), AUTH_CLOCK_SKEW_SEC: '0' } });
  });
  afterAll(async () => {
    for (const s of opened) s.close();
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each<IdpAlg>(['RS256', 'ES256', 'EdDSA'])('accepts an identity provider %s token at the handshake of both namespaces and as Bearer', async (alg) => {
    const token = idpToken({ sub: `idp-${alg}`, sid: `sid-${alg}`, name: 'From the IdP', roles: ['reader'] }, { alg });
    const [r1, r2] = cluster.replicas;
    const me = await api(r2.url, '/api/session', token);
    expect(me.body).toMatchObject({ ok: true, userId: `idp-${alg}`, sessionId: `sid-${alg}`, name: 'From the IdP', roles: ['reader'] });
    const s = track(await connect(r1.url, token));
    expect((await emitAck(s, 'room:join', { room: 'idp' })).ok).toBe(true);
    track(await connectDispatch(r2.url, token));
  });

  it('refuses identity-provider tokens with a wrong issuer, audience or key, expired, or without exp', async () => {
    const url = cluster.replicas[0].url;
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const bad = [
      idpToken({ sub: 'eve', iss: 'https://evil.example' }),
      idpToken({ sub: 'eve', aud: 'another-app' }),
      idpToken({ sub: 'eve' }, { key: stranger.privateKey }),
      idpToken({ sub: 'eve', exp: Math.floor(Date.now() / 1000) - 5 }),
      idpToken({ sub: 'eve', exp: undefined }),
    ];
    for (const token of bad) {
      await expect(connect(url, token)).rejects.toThrow('unauthorized');
      expect((await api(url, '/api/session', token)).status).toBe(401);
    }
  });

  it("refuses a token that names another user's session, signed with a known key or by the identity provider", async () => {
    const url = cluster.replicas[0].url;
    // Mallory's own demo session, and a token for the victim naming it, signed with the dev key.
    const mallory = await login(url, 'mallory');
    const now = Math.floor(Date.now() / 1000);
    const forged = jwt.sign({ sub: 'victim', sid: mallory.sessionId, iat: now, exp: now + 600 }, DEV_SECRET, { issuer: 'switchboard' });
    expect((await api(url, '/api/session', forged)).status).toBe(401);
    await expect(connect(url, forged)).rejects.toThrow('unauthorized');
    await expect(connectDispatch(url, forged)).rejects.toThrow('unauthorized');
    // An identity-provider session belongs to the first user seen with it.
    expect((await api(url, '/api/session', idpToken({ sub: 'first', sid: 'shared-sid' }))).status).toBe(200);
    expect((await api(cluster.replicas[1].url, '/api/session', idpToken({ sub: 'second', sid: 'shared-sid' }))).status).toBe(401);
  });

  it('logout disconnects the session in every namespace on every replica, and its token is refused from then on', async () => {
    const [r1, r2] = cluster.replicas;
    const { token } = await login(r1.url, 'leaving');
    const other = await login(r1.url, 'leaving'); // another device: stays
    const sockets = [track(await connect(r2.url, token)), track(await connectDispatch(r2.url, token)), track(await connectDispatch(r1.url, token)), track(await connect(r1.url, token))];
    const keeps = [track(await connect(r2.url, other.token)), track(await connectDispatch(r2.url, other.token))];
    const ends = sockets.map(disconnected);
    expect((await api(r1.url, '/api/logout', token, { method: 'POST' })).body).toEqual({ ok: true });
    expect(await Promise.all(ends)).toEqual(['io server disconnect', 'io server disconnect', 'io server disconnect', 'io server disconnect']);
    expect(keeps.every((s) => s.connected)).toBe(true);
    await expect(connectDispatch(r2.url, token)).rejects.toThrow('unauthorized');
    expect((await api(r2.url, '/api/session', token)).status).toBe(401);
  });

  it('an operator revokes an identity-provider session: its sockets drop everywhere and the token stays refused', async () => {
    const [r1, r2] = cluster.replicas;
    const token = idpToken({ sub: 'carol', sid: 'carol-laptop' });
    const sockets = [track(await connect(r1.url, token)), track(await connectDispatch(r2.url, token))];
    const ends = sockets.map(disconnected);
    // Another user may not end it (and cannot tell it exists).
    const bob = await login(r2.url, 'bob');
    expect((await api(r2.url, '/api/sessions/carol-laptop', bob.token, { method: 'DELETE' })).status).toBe(404);
    expect(sockets.every((s) => s.connected)).toBe(true);
    const ops = await login(r2.url, 'ops');
    expect((await api(r2.url, '/api/sessions/carol-laptop', ops.token, { method: 'DELETE' })).body).toEqual({ ok: true });
    await Promise.all(ends);
    await expect(connect(r2.url, token)).rejects.toThrow('unauthorized');
    expect((await api(r1.url, '/api/session', token)).status).toBe(401);
    // An operator can end a session no replica has seen yet (ended at the identity provider).
    expect((await api(r1.url, '/api/sessions/not-seen-yet', ops.token, { method: 'DELETE' })).body).toEqual({ ok: true });
    await expect(connect(r1.url, idpToken({ sub: 'dan', sid: 'not-seen-yet' }))).rejects.toThrow('unauthorized');
  });

  it('drops a socket of every namespace when its token expires', async () => {
    const exp = Math.floor(Date.now() / 1000) + 4;
    const token = idpToken({ sub: 'brief', sid: 'brief-1', exp });
    const main = track(await connect(cluster.replicas[0].url, token));
    const dispatch = track(await connectDispatch(cluster.replicas[1].url, token));
    const reasons = await Promise.all([disconnected(main), disconnected(dispatch)]);
    expect(reasons).toEqual(['io server disconnect', 'io server disconnect']);
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000 - 50);
  });

  it('keeps operators-only views for the admin role, and jobs for their owner', async () => {
    const url = cluster.replicas[0].url;
    const user = await login(url, 'plain-user');
    const admin = idpToken({ sub: 'oncall', roles: ['admin'] });
    for (const route of ['/api/stats', '/api/jobs/stats']) {
      expect((await api(url, route, user.token)).body).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
      expect((await api(url, route, admin)).status).toBe(200);
    }
    // Demo login grants admin only to AUTH_DEMO_ADMINS, never from the request.
    expect((await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'x', roles: ['admin'] }) })).status).toBe(400);
    expect((await api(url, '/api/session', (await login(url, 'ops')).token)).body.roles).toEqual(['admin']);
    // Only ids of the kinds the service makes: BullMQ's own keys are not jobs.
    for (const id of ['meta', 'events', 'repeat:cleanup:1', 'stalled-check', `reminder-${'a'.repeat(24)}-bob:x`]) {
      expect((await api(url, `/api/jobs/${encodeURIComponent(id)}`, admin)).body).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    }
    // A reminder is its mentioned user's: another user is refused without learning whether it exists.
    const someone = `/api/jobs/reminder-${'a'.repeat(24)}-someone`;
    expect((await api(url, someone, user.token)).status).toBe(403);
    expect((await api(url, someone, (await login(url, 'someone')).token)).status).toBe(404);
    expect((await api(url, someone, admin)).status).toBe(404);
    expect((await api(url, '/api/jobs/dispatch-offer-abc-1', user.token)).status).toBe(403);
  });

  it('serves /metrics only on the internal listener', async () => {
    const r = cluster.replicas[0];
    expect((await fetch(`${r.url}/metrics`)).status).toBe(404);
    const m = await fetch(`${r.metricsUrl}/metrics`);
    expect(m.status).toBe(200);
    expect(await m.text()).toMatch(/^sb_socket_connections\{/m);
    expect((await fetch(`${r.metricsUrl}/health`)).status).toBe(404);
  });
});

describe('authentication without demo login (as in production)', () => {
  let cluster: Cluster;
  const dir = tempDir('auth-nodemo');

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 1, env: { ...idpEnv(dir), AUTH_DEMO_LOGIN: 'false', AUTH_DEMO_ADMINS: '' } });
  });
  afterAll(async () => {
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('has no POST /api/login, refuses demo-signed tokens and accepts the identity provider', async () => {
    const url = cluster.replicas[0].url;
    const res = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'alice' }) });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const now = Math.floor(Date.now() / 1000);
    const demo = jwt.sign({ sub: 'alice', sid: 'whatever', iat: now, exp: now + 600 }, DEV_SECRET, { issuer: 'switchboard' });
    expect((await api(url, '/api/session', demo)).status).toBe(401);
    const s = await connect(url, idpToken({ sub: 'alice' }));
    expect(s.connected).toBe(true);
    s.close();
  });
});

describe('the service refuses to start in production without real authentication', () => {
  const main = path.join(SERVICE_ROOT, 'dist', 'main.js');
  const start = (env: Record<string, string>) =>
    spawnSync(process.execPath, [main], { env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: '0', METRICS_PORT: '0', ...env }, encoding: 'utf8', timeout: 30_000 });
  const dir = tempDir('auth-prod');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    [{}, /AUTH_JWKS_FILE: production needs your identity provider's keys/],
    [{ AUTH_DEMO_LOGIN: 'true', AUTH_SECRET: 'switchboard-dev-secret-do-not-use-in-production' }, /AUTH_DEMO_LOGIN: lets anyone log in as anyone[\s\S]*AUTH_SECRET: is a secret shipped/],
    [{ AUTH_PUBLIC_KEY_FILE: '/nonexistent/key.pem', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' }, /AUTH_PUBLIC_KEY_FILE: cannot read \/nonexistent\/key.pem \(ENOENT\)/],
  ])('%j', (env, message) => {
    const r = start(env as Record<string, string>);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it('refuses a private key given as the public one (it must not be on the replicas at all)', () => {
    const file = path.join(dir, 'private.pem');
    fs.writeFileSync(file, idpKeys.ES256.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const r = start({ AUTH_PUBLIC_KEY_FILE: file, AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/AUTH_PUBLIC_KEY_FILE: holds a private key/);
  });
});
