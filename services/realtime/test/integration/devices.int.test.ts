// A user's devices through real replicas on the run's Redis topology: GET /api/sessions lists the
// caller's login sessions (user agent, activity, sockets now in every namespace on every replica),
// DELETE /api/sessions/:id and DELETE /api/sessions end them, their sockets drop on every replica in
// both namespaces and their tokens are refused; other users' sessions are out of reach and untouched.
import fs from 'node:fs';
import { io as ioClient, type Socket } from 'socket.io-client';
import type { DeviceSession, DeviceSessionList } from '@switchboard/protocol';
import { api, FAST_PRESENCE, health, startCluster, type Cluster } from '../support/cluster';
import { idpEnv, idpToken } from '../support/idp';
import { killGroup, sleep, tempDir, waitFor } from '../support/processes';

interface Login {
  token: string;
  sessionId: string;
}

/** POST /api/login with a User-Agent, as a browser sends it. */
async function loginFrom(url: string, userId: string, userAgent: string): Promise<Login> {
  const res = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': userAgent },
    body: JSON.stringify({ userId }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Login;
}

/** A connected socket of the main namespace or /dispatch (in the url), with a User-Agent; rejects with the connect_error message. */
function connect(url: string, token: string, userAgent = 'socket-client'): Promise<Socket> {
  const socket = ioClient(url, { auth: { token }, transports: ['websocket'], forceNew: true, reconnection: false, timeout: 10_000, extraHeaders: { 'user-agent': userAgent } });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

const disconnected = (s: Socket) => new Promise<string>((resolve) => (s.connected ? s.once('disconnect', (reason) => resolve(reason)) : resolve('already')));

async function list(url: string, token: string, userAgent?: string): Promise<DeviceSessionList> {
  const res = await api(url, '/api/sessions', token, userAgent ? { headers: { 'user-agent': userAgent } } : {});
  expect(res).toMatchObject({ status: 200, body: { ok: true } });
  return res.body as DeviceSessionList;
}

const byId = (l: DeviceSessionList) => new Map<string, DeviceSession>(l.sessions.map((s) => [s.sessionId, s]));
/** Waits until the listed sockets per session are exactly `want` (sessions not named must not be listed). */
const socketsAre = (url: string, token: string, want: Record<string, number>) =>
  waitFor(`sockets ${JSON.stringify(want)}`, async () => {
    const got = Object.fromEntries((await list(url, token)).sessions.map((s) => [s.sessionId, s.sockets]));
    if (JSON.stringify(got, Object.keys(got).sort()) !== JSON.stringify(want, Object.keys(want).sort())) throw new Error(`listed ${JSON.stringify(got)}`);
    return true;
  }, 20_000);

describe('devices: a user lists and ends their login sessions across replicas', () => {
  let cluster: Cluster;
  const dir = tempDir('devices');
  const opened: Socket[] = [];
  const track = (s: Socket) => (opened.push(s), s);
  let n = 0;
  /** A user id of its own for each test, so tests do not see each other's sessions. */
  const user = (name: string) => `${name}-${++n}`;

  /** Two sessions of a new user: `a` with a socket on the first replica, `b` with a main and a /dispatch socket on the second. */
  async function twoSessions(name: string) {
    const [r1, r2] = cluster.replicas;
    const userId = user(name);
    const a = await loginFrom(r1.url, userId, 'A/1.0');
    const b = await loginFrom(r2.url, userId, 'B/1.0');
    track(await connect(r1.url, a.token));
    const bSockets = [track(await connect(r2.url, b.token)), track(await connect(`${r2.url}/dispatch`, b.token))];
    await socketsAre(r1.url, a.token, { [a.sessionId]: 1, [b.sessionId]: 2 });
    return { a, b, bSockets };
  }

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2, env: { ...idpEnv(dir), ...FAST_PRESENCE } });
  });
  afterAll(async () => {
    for (const s of opened) s.close();
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("lists the caller's sessions: own first, user agent, activity, sockets in every namespace on every replica", async () => {
    const [r1, r2] = cluster.replicas;
    const alice = user('alice');
    const before = Date.now();
    const laptop = await loginFrom(r1.url, alice, 'Laptop/1.0');
    const phone = await loginFrom(r1.url, alice, 'Phone/2.0');
    const tablet = await loginFrom(r2.url, alice, 'Tablet/3.0');
    const bob = await loginFrom(r1.url, user('bob'), 'Bob/1.0');
    track(await connect(r1.url, laptop.token));
    track(await connect(r2.url, bob.token));
    const phoneConnectedFrom = Date.now();
    const phoneSockets = [track(await connect(r2.url, phone.token)), track(await connect(`${r2.url}/dispatch`, phone.token)), track(await connect(`${r1.url}/dispatch`, phone.token))];

    await socketsAre(r2.url, laptop.token, { [laptop.sessionId]: 1, [phone.sessionId]: 3, [tablet.sessionId]: 0 });
    const listed = await list(r2.url, laptop.token);
    expect(listed.more).toBe(false);
    expect(listed.sessions[0]).toMatchObject({ sessionId: laptop.sessionId, current: true, userAgent: 'Laptop/1.0', source: 'demo' });
    const seen = byId(listed);
    expect(seen.get(phone.sessionId)).toMatchObject({ current: false, userAgent: 'Phone/2.0', source: 'demo' });
    expect(seen.get(tablet.sessionId)).toMatchObject({ current: false, userAgent: 'Tablet/3.0', source: 'demo' });
    for (const s of listed.sessions) {
      expect(s.createdAt).toBeGreaterThanOrEqual(before);
      expect(s.lastActiveAt).toBeGreaterThanOrEqual(s.createdAt);
      expect(s.expiresAt).toBeGreaterThan(Date.now());
    }
    // Connecting is activity: lastActiveAt moves with the count.
    expect(seen.get(phone.sessionId)!.lastActiveAt).toBeGreaterThanOrEqual(phoneConnectedFrom);
    // Every listed session is the caller's: another user's never shows.
    expect(listed.sessions).toHaveLength(3);
    expect((await list(r1.url, bob.token)).sessions.map((s) => s.sessionId)).toEqual([bob.sessionId]);

    // Without a valid token there is nothing to list or end.
    for (const init of [{}, { method: 'DELETE' }]) {
      expect(await api(r1.url, '/api/sessions', 'not-a-token', init)).toMatchObject({ status: 401, body: { ok: false, error: { code: 'UNAUTHORIZED' } } });
    }
    expect(await api(r1.url, '/api/sessions/bad%20id', laptop.token, { method: 'DELETE' })).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION' } } });

    // A socket that goes stops counting, on whichever replica it was.
    phoneSockets[2].close();
    await socketsAre(r1.url, phone.token, { [laptop.sessionId]: 1, [phone.sessionId]: 2, [tablet.sessionId]: 0 });
    expect((await list(r1.url, phone.token)).sessions[0]).toMatchObject({ sessionId: phone.sessionId, current: true });
  });

  it('revoking a session on one replica drops its sockets on the other in both namespaces; its token is refused from then on', async () => {
    const [r1, r2] = cluster.replicas;
    const carol = user('carol');
    const mine = await loginFrom(r1.url, carol, 'Desk/1.0');
    const stolen = await loginFrom(r2.url, carol, 'Lost/1.0');
    const mallory = await loginFrom(r2.url, user('mallory'), 'Mallory/1.0');
    const keep = [track(await connect(r1.url, mine.token)), track(await connect(r2.url, mallory.token))];
    const victims = [track(await connect(r2.url, stolen.token)), track(await connect(`${r2.url}/dispatch`, stolen.token))];
    const ends = victims.map(disconnected);

    // Another user's session id: NOT_FOUND (as an unknown one), and nothing happens to it.
    for (const url of [r1.url, r2.url]) {
      const res = await api(url, `/api/sessions/${encodeURIComponent(stolen.sessionId)}`, mallory.token, { method: 'DELETE' });
      expect(res).toMatchObject({ status: 404, body: { ok: false, error: { code: 'NOT_FOUND' } } });
    }
    await sleep(500);
    expect(victims.every((s) => s.connected)).toBe(true);
    expect((await api(r1.url, '/api/session', stolen.token)).status).toBe(200);
    await socketsAre(r1.url, mine.token, { [mine.sessionId]: 1, [stolen.sessionId]: 2 });

    const res = await api(r1.url, `/api/sessions/${encodeURIComponent(stolen.sessionId)}`, mine.token, { method: 'DELETE' });
    expect(res).toMatchObject({ status: 200, body: { ok: true } });
    expect(await Promise.all(ends)).toEqual(['io server disconnect', 'io server disconnect']);
    for (const url of [r1.url, r2.url]) {
      expect((await api(url, '/api/session', stolen.token)).body).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
      await expect(connect(url, stolen.token)).rejects.toThrow('unauthorized');
      await expect(connect(`${url}/dispatch`, stolen.token)).rejects.toThrow('unauthorized');
    }
    expect(keep.every((s) => s.connected)).toBe(true);
    await socketsAre(r2.url, mine.token, { [mine.sessionId]: 1 });
    expect((await api(r2.url, '/api/session', mallory.token)).status).toBe(200);
  });

  it("DELETE /api/sessions ends every other session of the caller and keeps the caller's own", async () => {
    const [r1, r2] = cluster.replicas;
    const dora = user('dora');
    const me = await loginFrom(r2.url, dora, 'Me/1.0');
    const others = [await loginFrom(r1.url, dora, 'A/1.0'), await loginFrom(r2.url, dora, 'B/1.0'), await loginFrom(r1.url, dora, 'C/1.0')];
    const erin = await loginFrom(r1.url, user('erin'), 'Erin/1.0');
    const mySockets = [track(await connect(r2.url, me.token)), track(await connect(`${r1.url}/dispatch`, me.token))];
    const erinSocket = track(await connect(r1.url, erin.token));
    const theirs = [track(await connect(r1.url, others[0].token)), track(await connect(`${r2.url}/dispatch`, others[1].token)), track(await connect(r2.url, others[1].token))];
    const ends = theirs.map(disconnected);
    await socketsAre(r1.url, me.token, { [me.sessionId]: 2, [others[0].sessionId]: 1, [others[1].sessionId]: 2, [others[2].sessionId]: 0 });

    const res = await api(r1.url, '/api/sessions', me.token, { method: 'DELETE' });
    expect(res).toMatchObject({ status: 200, body: { ok: true, ended: 3 } });
    expect(await Promise.all(ends)).toEqual(['io server disconnect', 'io server disconnect', 'io server disconnect']);
    for (const o of others) {
      expect((await api(r2.url, '/api/session', o.token)).status).toBe(401);
      await expect(connect(r1.url, o.token)).rejects.toThrow('unauthorized');
    }
    // The caller's own session and another user's stay: connected, tokens good.
    await sleep(500);
    expect(mySockets.every((s) => s.connected)).toBe(true);
    expect(erinSocket.connected).toBe(true);
    expect((await api(r2.url, '/api/session', me.token)).status).toBe(200);
    expect((await api(r2.url, '/api/session', erin.token)).status).toBe(200);
    await socketsAre(r2.url, me.token, { [me.sessionId]: 2 });
    // Nothing left to end.
    expect((await api(r2.url, '/api/sessions', me.token, { method: 'DELETE' })).body).toEqual({ ok: true, ended: 0 });
  });

  it('lists identity-provider sessions and lets their user end one', async () => {
    const [r1, r2] = cluster.replicas;
    const ivy = user('ivy');
    const laptop = idpToken({ sub: ivy, sid: `${ivy}-laptop` });
    const phone = idpToken({ sub: ivy, sid: `${ivy}-phone` });
    // The phone's session opens at its handshake, and keeps the socket's User-Agent.
    const phoneSocket = track(await connect(r2.url, phone, 'IdP-Phone/1.0'));
    const ended = disconnected(phoneSocket);
    // The laptop's opens at its first HTTP call, with that call's User-Agent (every call below sends the same one).
    expect((await list(r1.url, laptop, 'IdP-Laptop/1.0')).sessions[0]).toMatchObject({ sessionId: `${ivy}-laptop`, current: true });
    // What each replica noted reaches Redis with its next flush (about a second).
    await waitFor('both sessions listed with their user agents and sockets', async () => {
      expect((await list(r2.url, laptop, 'IdP-Laptop/1.0')).sessions).toEqual([
        expect.objectContaining({ sessionId: `${ivy}-laptop`, current: true, source: 'idp', userAgent: 'IdP-Laptop/1.0', sockets: 0 }),
        expect.objectContaining({ sessionId: `${ivy}-phone`, current: false, source: 'idp', userAgent: 'IdP-Phone/1.0', sockets: 1 }),
      ]);
      return true;
    }, 20_000);
    // A token that names another user's identity-provider session ends nothing.
    const stranger = idpToken({ sub: user('stranger'), sid: user('stranger-sid') });
    expect((await api(r1.url, `/api/sessions/${ivy}-phone`, stranger, { method: 'DELETE' })).status).toBe(404);
    expect(phoneSocket.connected).toBe(true);

    expect((await api(r1.url, `/api/sessions/${ivy}-phone`, laptop, { method: 'DELETE' })).body).toEqual({ ok: true });
    expect(await ended).toBe('io server disconnect');
    await expect(connect(r2.url, phone)).rejects.toThrow('unauthorized');
    expect((await api(r1.url, '/api/session', phone)).status).toBe(401);
    expect((await list(r2.url, laptop)).sessions.map((s) => s.sessionId)).toEqual([`${ivy}-laptop`]);
  });

  it('answers UNAVAILABLE while Redis is down, and counts the sockets that closed meanwhile once it is back', async () => {
    const [r1, r2] = cluster.replicas;
    const { a, b, bSockets } = await twoSessions('finn');

    await cluster.killRedis();
    for (const r of cluster.replicas) await waitFor(`${r.name} degraded`, async () => (await health(r.url)).body.status === 'degraded', 15_000);
    for (const init of [{}, { method: 'DELETE' }]) {
      expect(await api(r1.url, '/api/sessions', a.token, init)).toMatchObject({ status: 503, body: { ok: false, error: { code: 'UNAVAILABLE' } } });
    }
    // Closed while its replica cannot write the count: its flushes fail for a while (one a second).
    const gone = disconnected(bSockets[1]);
    bSockets[1].close();
    await gone;
    await sleep(3000);

    await cluster.startRedis();
    for (const r of cluster.replicas) await waitFor(`${r.name} ok again`, async () => (await health(r.url)).body.status === 'ok', 40_000);
    await socketsAre(r1.url, a.token, { [a.sessionId]: 1, [b.sessionId]: 1 });
    expect(r2.proc.child.exitCode).toBeNull();
  });

  it('stops counting the sockets of a replica that dies', async () => {
    const [r1, r2] = cluster.replicas;
    const { a, b } = await twoSessions('gus');
    // A crash: no disconnect is written, the replica's heartbeat just stops.
    killGroup(r2.proc.child, 'SIGKILL');
    await r2.proc.exited;
    await socketsAre(r1.url, a.token, { [a.sessionId]: 1, [b.sessionId]: 0 });
  });
});
