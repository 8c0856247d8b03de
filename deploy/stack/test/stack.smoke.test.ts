// Smoke test of the Docker Compose stack through nginx, in its own compose
// project on a free port so a person's stack is never touched. It never
// skips: when no engine can be started, `up` fails and so does this test,
// with the CLI's one-sentence reason.
import { sleep, waitFor } from '@switchboard/test-kit';
import { io, type Socket } from 'socket.io-client';
import { sendAndCollect, TestStack } from './support/stack';

const stack = new TestStack(`sbsmoke${process.pid}`);
const PROJECT = stack.project;
const sockets = stack.sockets;
let base = '';
/** What `up` printed: the admin UI's password among it. */
let upOutput = '';
const cli = (...args: string[]) => stack.cli(...args);
const mustCli = (...args: string[]) => stack.mustCli(...args);
const connect = (token: string, cid: string) => stack.connect(token, cid);

async function servedBy(cid: string): Promise<string> {
  const res = await fetch(`${base}/health?cid=${encodeURIComponent(cid)}`);
  expect(res.status).toBe(200);
  const served = res.headers.get('x-served-by');
  expect(served).toBeTruthy();
  return served!;
}

async function login(userId: string): Promise<string> {
  const res = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { ok?: boolean; token: string; sessionId: string; userId: string; expiresAt: unknown };
  expect(body).toMatchObject({ userId, token: expect.any(String), sessionId: expect.any(String) });
  expect(body.expiresAt).toBeDefined();
  if ('ok' in body) expect(body.ok).toBe(true);
  return body.token;
}

function adminPassword(): string {
  const m = /admin UI +\S+\/admin\/ +user admin, password (\S+)/.exec(upOutput);
  expect(m).not.toBeNull();
  return m![1];
}
const basic = (password: string) => `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;

/**
 * Sends from one socket and checks the other receives exactly that message,
 * exactly once, stamped by the sender's replica (so it crossed replicas).
 */
async function exchange(from: Socket, to: Socket, text: string, senderReplica: string): Promise<void> {
  const received = await sendAndCollect(from, to, 'smoke', text);
  expect(received).toHaveLength(1);
  expect(received[0]).toMatchObject({ room: 'smoke', text, id: expect.any(String), userId: expect.any(String), instance: expect.any(String) });
  expect(received[0].ts).toBeDefined();
  expect(received[0].instance).toBe(senderReplica);
}

describe('the compose stack through nginx', () => {
  let alice: Socket;
  let bob: Socket;
  let aliceReplica = '';
  let bobReplica = '';
  const disconnects: string[] = [];

  beforeAll(async () => {
    await stack.choosePort();
    base = stack.base;
    // As `make up` runs it (ADMIN_UI=on by default).
    upOutput = await mustCli('up', '--replicas', '3', '--admin-ui', 'on');
  }, 30 * 60_000);

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    // Always tear down, also after a failure; the last test asserts it worked.
    await cli('down', '--volumes');
  }, 5 * 60_000);

  test('login through nginx returns a session token', async () => {
    await login('smoke-alice');
  });

  test('status --json lists every container running and healthy', async () => {
    const r = await cli('status', '--json');
    expect(r.code).toBe(0);
    // Progress (if any) goes to stderr; stdout is the JSON document.
    const doc = JSON.parse(r.stdout) as { project: string; containers: { service: string; replica: string; state: string; health: string }[] };
    expect(doc.project).toBe(PROJECT);
    expect(doc.containers.map((c) => c.replica).sort()).toEqual(['mongo-1', 'nginx-1', 'realtime-1', 'realtime-2', 'realtime-3', 'redis-1']);
    for (const c of doc.containers) expect([c.replica, c.state, c.health]).toEqual([c.replica, 'running', 'healthy']);
  });

  test('two client ids land on different replicas and exchange a message exactly once', async () => {
    const first = await servedBy('smoke-0');
    let secondCid = '';
    for (let i = 1; i < 200 && !secondCid; i++) {
      if ((await servedBy(`smoke-${i}`)) !== first) secondCid = `smoke-${i}`;
    }
    expect(secondCid).not.toBe('');
    const second = await servedBy(secondCid);
    expect(second).not.toBe(first);
    // Sticky: a client id keeps landing on its replica.
    for (let i = 0; i < 5; i++) expect(await servedBy('smoke-0')).toBe(first);
    aliceReplica = first;
    bobReplica = second;

    alice = await connect(await login('smoke-alice'), 'smoke-0');
    bob = await connect(await login('smoke-bob'), secondCid);
    for (const [name, s] of [['alice', alice], ['bob', bob]] as const) s.on('disconnect', (reason) => disconnects.push(`${name}: ${reason}`));

    for (const s of [alice, bob]) {
      const ack = await s.timeout(10_000).emitWithAck('room:join', { room: 'smoke' });
      expect(ack).toMatchObject({ ok: true, room: 'smoke', members: expect.anything() });
    }
    await exchange(alice, bob, 'hello across replicas', aliceReplica);
  });

  test('a long-polling client works through nginx (every request of its session on one replica)', async () => {
    // Without stickiness the second poll lands on another replica and the
    // session fails with "Session ID unknown".
    const token = await login('smoke-poller');
    const poller = io(base, { auth: { token }, query: { cid: 'smoke-poll' }, transports: ['polling'], reconnection: false });
    sockets.push(poller);
    await new Promise<void>((resolve, reject) => {
      poller.once('connect', () => resolve());
      poller.once('connect_error', (err) => reject(new Error(`long-polling client could not connect: ${err.message}`)));
    });
    const lost: string[] = [];
    poller.on('disconnect', (reason) => lost.push(reason));
    expect(await poller.timeout(10_000).emitWithAck('room:join', { room: 'smoke' })).toMatchObject({ ok: true });
    for (let i = 0; i < 5; i++) {
      const ack = await poller.timeout(10_000).emitWithAck('message:send', { room: 'smoke', text: `poll ${i}`, clientMsgId: `smoke-poll-${Date.now()}-${i}` });
      expect(ack).toMatchObject({ ok: true });
    }
    expect(lost).toEqual([]);
    expect(poller.io.engine.transport.name).toBe('polling');
    poller.disconnect();
  });

  test('up prints the admin UI password, and every replica serves the UI with it through nginx', async () => {
    const password = adminPassword();
    const served = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const cid = `smoke-admin-${i}`;
      expect((await fetch(`${base}/admin/?cid=${cid}`)).status).toBe(401);
      const page = await fetch(`${base}/admin/?cid=${cid}`, { headers: { authorization: basic(password) } });
      expect(page.status).toBe(200);
      served.add(page.headers.get('x-served-by')!);
    }
    expect([...served].sort()).toEqual(['realtime-1', 'realtime-2', 'realtime-3']);
  });

  test('scaling to 4 and back to 3 keeps both sockets connected', async () => {
    expect(alice?.connected && bob?.connected).toBe(true);
    await mustCli('scale', '--replicas', '4');
    // The replica scale added has the same admin UI password as the others (the project's).
    let onFourth = '';
    for (let i = 0; i < 200 && !onFourth; i++) if ((await servedBy(`smoke-four-${i}`)) === 'realtime-4') onFourth = `smoke-four-${i}`;
    expect(onFourth).not.toBe('');
    expect((await fetch(`${base}/admin/?cid=${onFourth}`, { headers: { authorization: basic(adminPassword()) } })).status).toBe(200);
    await mustCli('scale', '--replicas', '3');
    expect(disconnects).toEqual([]);
    expect(alice.connected && bob.connected).toBe(true);
    await exchange(bob, alice, 'still here after scaling', bobReplica);
    await exchange(alice, bob, 'and back', aliceReplica);
  });

  test('a replica cut off its network (disconnect) misses messages until reconnect puts it back on its address; a reload drops no socket', async () => {
    expect(alice?.connected && bob?.connected).toBe(true);
    const got: string[] = [];
    const onMessage = (m: { text: string }) => got.push(m.text);
    bob.on('message:new', onMessage);
    const send = async (text: string) => expect(await alice.timeout(10_000).emitWithAck('message:send', { room: 'smoke', text, clientMsgId: `smoke-${Date.now()}-${text.length}` })).toMatchObject({ ok: true });
    try {
      expect(await mustCli('disconnect', '--target', bobReplica)).toMatch(/is cut off/);
      const during = `sent while ${bobReplica} is cut off`;
      await send(during);
      await sleep(1500);
      expect(got).toEqual([]);
      expect(await mustCli('reconnect', '--target', bobReplica)).toMatch(/\(the same address\)/);
      const after = `sent after ${bobReplica} is back`;
      await send(after);
      // Its connections were stalled, not closed: once the link is back, both arrive, once each, in order.
      await waitFor('both messages at bob', () => got.length >= 2, 30_000);
      expect(got).toEqual([during, after]);
      expect(disconnects).toEqual([]);

      await mustCli('reload');
      await exchange(alice, bob, 'after an nginx reload', aliceReplica);
      expect(disconnects).toEqual([]);
    } finally {
      bob.off('message:new', onMessage);
    }
  });

  test('reconnect with nothing cut, or disconnect from a network the container is not on, says so in one sentence', async () => {
    const none = await cli('reconnect', '--target', bobReplica);
    expect(none.code).toBe(1);
    expect(none.output).toMatch(/ERROR: Nothing of .* was disconnected by make disconnect/);
    const wrong = await cli('disconnect', '--target', bobReplica, '--network', 'nosuchnet');
    expect(wrong.code).toBe(1);
    expect(wrong.output).toMatch(/ERROR: The container is not on a network "nosuchnet" \(it is on: default\)/);
  });

  test("the service caps a user's connections, across the replicas nginx spreads them over", async () => {
    // SOCKETS_PER_USER_MAX (20): each socket with a client id of its own, so nginx spreads them.
    const token = await login('smoke-many');
    for (let i = 0; i < 20; i++) await connect(token, `smoke-many-${i}`);
    const refused = await connect(token, 'smoke-many-20').catch((err: Error) => err.message);
    expect(refused).toBe('socket (cid smoke-many-20) could not connect: too many connections');
    for (const s of sockets.splice(-20)) s.disconnect();
  });

  test('nginx limits new Socket.IO connections per address (429), and nothing else', async () => {
    // 200 Engine.IO handshakes at once from this one address: a burst of 100 and 10 a second pass. The
    // handshakes of the tests before (the cap's 21 sockets just now) count against the same burst until
    // they drain at 10 a second: a full burst is gone after 10 s.
    await sleep(10_000);
    const handshake = (i: number) => fetch(`${base}/socket.io/?EIO=4&transport=polling&cid=smoke-burst-${i}`).then(async (r) => ({ status: r.status, servedBy: r.headers.get('x-served-by'), body: await r.text() }));
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => handshake(i)));
    const refused = answers.filter((a) => a.status === 429);
    const passed = answers.filter((a) => a.status === 200);
    expect(refused.length + passed.length).toBe(200);
    expect(passed.length).toBeGreaterThanOrEqual(100);
    expect(refused.length).toBeGreaterThanOrEqual(50);
    // Refused by nginx itself, before any replica.
    for (const a of refused) expect(a.servedBy).toBeNull();
    // Requests of an open Engine.IO session (with its sid), and the rest of the site, are not counted.
    expect((await fetch(`${base}/health?cid=smoke-0`)).status).toBe(200);
    // (An unknown sid: the replica answers 400 at once.)
    const polls = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${base}/socket.io/?EIO=4&transport=polling&cid=smoke-burst-${i}&sid=unknown-${i}`).then((r) => r.status)));
    expect(polls).toEqual(Array(20).fill(400));
  });

  test('down leaves no container of the project behind', async () => {
    for (const s of sockets) s.disconnect();
    await mustCli('down', '--volumes');
    expect(await stack.containersLeft()).toBe('');
  });
});
