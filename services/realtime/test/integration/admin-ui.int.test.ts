// The Socket.IO admin UI (src/admin) through real replicas: one admin socket on one replica sees
// every replica and every replica's sockets with their rooms (through the Redis adapter); who may
// open its namespace and its page (password, UI session, admin token), within the login limit;
// chat still works in development mode; and without a password there is no UI at all.
import { io as ioClient, type Socket } from 'socket.io-client';
import { api, connect, emitAck, login, startCluster, type Cluster } from '../support/cluster';
import { waitFor } from '../support/processes';

const PASSWORD = 'admin-ui-test-password';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface ServerStats { serverId: string; clientsCount: number; namespaces: { name: string; socketsCount: number }[] }
interface SerializedSocket { id: string; nsp: string; rooms: string[]; data: { user?: { userId: string } } }

/** An admin-namespace client; resolves once connected, with what it received so far and later. */
async function openAdmin(url: string, auth: Record<string, unknown>) {
  const socket: Socket = ioClient(`${url}/admin`, { auth, transports: ['websocket'], forceNew: true, reconnection: false, timeout: 10_000 });
  const seen = { stats: new Map<string, ServerStats>(), sessions: [] as string[], allSockets: [] as SerializedSocket[][], received: [] as unknown[][], config: [] as { supportedFeatures: string[] }[] };
  socket.on('server_stats', (s: ServerStats) => seen.stats.set(s.serverId, s));
  socket.on('session', (id: string) => seen.sessions.push(id));
  socket.on('all_sockets', (list: SerializedSocket[]) => seen.allSockets.push(list));
  socket.on('event_received', (...args: unknown[]) => seen.received.push(args));
  socket.on('config', (c: { supportedFeatures: string[] }) => seen.config.push(c));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
  return { socket, seen };
}

describe('the Socket.IO admin UI across replicas', () => {
  let cluster: Cluster;
  const opened: Socket[] = [];
  const track = <T extends { socket: Socket } | Socket>(s: T): T => (opened.push('socket' in s ? s.socket : s), s);

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 3, env: { ADMIN_UI_PASSWORD: PASSWORD, ADMIN_UI_MODE: 'development', RATE_LIMIT_LOGINS: '40/60s' } });
  });
  afterAll(async () => {
    for (const s of opened) s.close();
    await cluster?.stop();
  });

  it('shows every replica, and every replica’s sockets with their rooms, to one admin socket', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const alice = await login(r2.url, 'alice');
    const bob = await login(r3.url, 'bob');
    const sa = track(await connect(r2.url, alice.token));
    const sb = track(await connect(r3.url, bob.token));
    expect((await emitAck(sa, 'room:join', { room: 'ops-room' })).ok).toBe(true);
    expect((await emitAck(sb, 'room:join', { room: 'ops-room' })).ok).toBe(true);

    const admin = track(await openAdmin(r1.url, { username: 'admin', password: PASSWORD }));
    // Each replica reports under its own server id every 2 s; r2's and r3's come through Redis.
    await waitFor('stats of every replica', async () => ['realtime-1', 'realtime-2', 'realtime-3'].every((id) => admin.seen.stats.has(id)), 20_000);
    expect(admin.seen.stats.get('realtime-2')!.namespaces).toEqual(expect.arrayContaining([{ name: '/', socketsCount: expect.any(Number) }]));

    await waitFor('the sockets list', async () => admin.seen.allSockets.length > 0);
    const listed = admin.seen.allSockets[0];
    const find = (id: string) => listed.find((s) => s.id === id && s.nsp === '/');
    expect(find(sa.id!)).toMatchObject({ rooms: expect.arrayContaining(['room:ops-room', 'user:alice']), data: { user: { userId: 'alice' } } });
    expect(find(sb.id!)).toMatchObject({ rooms: expect.arrayContaining(['room:ops-room', 'user:bob']) });
    // Never the token: the handshake's auth is left out of what the UI gets.
    expect(JSON.stringify(listed)).not.toContain(alice.token);
    // Read-only: no join, leave, disconnect or emit among the features.
    expect(admin.seen.config[0].supportedFeatures).not.toEqual(expect.arrayContaining(['JOIN']));
    expect(admin.seen.config[0].supportedFeatures).toEqual(expect.arrayContaining(['ALL_EVENTS']));
  });

  it('keeps chat working in development mode, and shows events received on another replica', async () => {
    const [r1, r2] = cluster.replicas;
    const admin = track(await openAdmin(r1.url, { username: 'admin', password: PASSWORD }));
    const carol = await login(r2.url, 'carol');
    const s = track(await connect(r2.url, carol.token));
    expect((await emitAck(s, 'room:join', { room: 'devmode' })).ok).toBe(true);
    // Two sends on one socket: the second waits on the first through the socket's data.
    for (const clientMsgId of ['m-1', 'm-2']) {
      const ack = await emitAck(s, 'message:send', { room: 'devmode', text: `hello ${clientMsgId}`, clientMsgId });
      expect(ack).toMatchObject({ ok: true, message: { clientMsgId } });
    }
    await waitFor('message:send seen by the admin socket', async () =>
      admin.seen.received.some(([nsp, id, args]) => nsp === '/' && id === s.id && (args as unknown[])[0] === 'message:send'),
    );
  });

  it('lets in an admin token, a UI session on any replica, and the password; refuses the rest', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const first = track(await openAdmin(r1.url, { username: 'admin', password: PASSWORD }));
    expect(first.seen.sessions).toEqual([expect.stringMatching(/^[0-9a-f]{32}$/)]);
    // The UI reconnects with its session, to whichever replica nginx picks.
    track(await openAdmin(r3.url, { sessionId: first.seen.sessions[0] }));
    const ops = await login(r2.url, 'ops'); // AUTH_DEMO_ADMINS of the test cluster
    track(await openAdmin(r2.url, { token: ops.token }));

    const user = await login(r2.url, 'mallory');
    await expect(openAdmin(r2.url, { token: user.token })).rejects.toThrow('forbidden');
    await expect(openAdmin(r2.url, { token: 'not-a-token' })).rejects.toThrow('unauthorized');
    await expect(openAdmin(r2.url, { username: 'admin', password: 'wrong-password-1' })).rejects.toThrow('invalid credentials');
    await expect(openAdmin(r2.url, { username: 'root', password: PASSWORD })).rejects.toThrow('invalid credentials');
    await expect(openAdmin(r2.url, { sessionId: 'f'.repeat(32) })).rejects.toThrow('invalid credentials');
    await expect(openAdmin(r2.url, { sessionId: { $ne: null } })).rejects.toThrow('invalid credentials');
    await expect(openAdmin(r2.url, {})).rejects.toThrow('invalid credentials');
  });

  it('ends an admin socket opened with a token when its session ends', async () => {
    const [r1, r2] = cluster.replicas;
    const ops = await login(r1.url, 'ops');
    const admin = track(await openAdmin(r2.url, { token: ops.token }));
    let reason = '';
    admin.socket.once('disconnect', (why) => (reason = why));
    expect((await api(r1.url, '/api/logout', ops.token, { method: 'POST' })).status).toBe(200);
    await waitFor('the admin socket disconnected', async () => reason, 20_000);
    expect(reason).toBe('io server disconnect');
  });

  it('serves its page and files only to the password or an admin token, with no outside host', async () => {
    const url = cluster.replicas[0].url;
    const anonymous = await fetch(`${url}/admin/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect((await fetch(`${url}/admin/`, { headers: { authorization: basic('admin', 'nope-nope-nope') } })).status).toBe(401);
    const user = await login(url, 'dave');
    expect((await fetch(`${url}/admin/`, { headers: { authorization: `Bearer ${user.token}` } })).status).toBe(403);
    const ops = await login(url, 'ops');
    expect((await fetch(`${url}/admin/`, { headers: { authorization: `Bearer ${ops.token}` } })).status).toBe(200);

    const auth = { authorization: basic('admin', PASSWORD) };
    const bare = await fetch(`${url}/admin`, { headers: auth, redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/admin/');
    const page = await fetch(`${url}/admin/`, { headers: auth });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Socket.IO Admin UI');
    expect(html).not.toMatch(/(href|src)="(https?:)?\/\//);
    // Every file the page names is served from the replica.
    const local = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]);
    expect(local).toEqual(expect.arrayContaining(['vendor/mdi/css/materialdesignicons.min.css', 'vendor/roboto/400.css']));
    for (const file of local) expect([file, (await fetch(`${url}/admin/${file}`, { headers: auth })).status]).toEqual([file, 200]);
    const icons = await (await fetch(`${url}/admin/vendor/mdi/css/materialdesignicons.min.css`, { headers: auth })).text();
    const font = /url\("?\.\.\/fonts\/([^")?]+\.woff2)/.exec(icons)![1];
    expect((await fetch(`${url}/admin/vendor/mdi/fonts/${font}`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${url}/admin/no-such-file.js`, { headers: auth })).status).toBe(404);
  });

  it('has no admin UI on a replica without its password, and only counts in production mode', async () => {
    const off = await cluster.startReplica('realtime-off', { ADMIN_UI_PASSWORD: undefined });
    expect((await fetch(`${off.url}/admin/`, { headers: { authorization: basic('admin', PASSWORD) } })).status).toBe(404);
    await expect(openAdmin(off.url, { username: 'admin', password: PASSWORD })).rejects.toThrow('Invalid namespace');

    const prod = await cluster.startReplica('realtime-prod', { ADMIN_UI_MODE: 'production' });
    const admin = track(await openAdmin(prod.url, { username: 'admin', password: PASSWORD }));
    await waitFor('stats from the production-mode replica', async () => admin.seen.stats.has('realtime-prod'), 20_000);
    expect(admin.seen.config[0].supportedFeatures).not.toEqual(expect.arrayContaining(['ALL_EVENTS']));
    expect(admin.seen.allSockets).toEqual([]);
  });

  it('charges password guesses to the per-address login limit before any bcrypt', async () => {
    const url = cluster.replicas[1].url;
    let refusal = '';
    for (let i = 0; i < 45 && !refusal.startsWith('too many'); i++) {
      refusal = await openAdmin(url, { username: 'admin', password: `guess-${i}-xxxxxx` }).then(
        () => 'let in',
        (err: Error) => err.message,
      );
      expect(refusal).not.toBe('let in');
    }
    expect(refusal).toMatch(/^too many attempts/);
    const limited = await fetch(`${url}/admin/`, { headers: { authorization: basic('admin', 'another-guess-x') } });
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '60']);
  });
});
