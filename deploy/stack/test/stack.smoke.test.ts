// Smoke test of the Docker Compose stack through nginx, in its own compose
// project on a free port so a person's stack is never touched. It never
// skips: when no engine can be started, `up` fails and so does this test,
// with the CLI's one-sentence reason.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';

const ROOT = path.resolve(__dirname, '../../..');
const PROJECT = `sbsmoke${process.pid}`;
let port = 0;
let base = '';
const sockets: Socket[] = [];

interface CliResult {
  code: number;
  /** stdout and stderr as they came. */
  output: string;
  stdout: string;
}

/** Runs the stack CLI for this test's project, showing its progress on stderr. */
function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'deploy/stack/src/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, SB_PROJECT: PROJECT, SB_HTTP_PORT: String(port), SB_BIND: '127.0.0.1' },
    });
    let output = '';
    let stdout = '';
    const pass = (chunk: Buffer) => {
      output += chunk.toString();
      process.stderr.write(chunk);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      pass(chunk);
    });
    child.stderr.on('data', pass);
    child.on('close', (code) => resolve({ code: code ?? 1, output, stdout }));
  });
}

async function mustCli(...args: string[]): Promise<string> {
  const r = await cli(...args);
  if (r.code !== 0) {
    const reason = r.output.trim().split('\n').slice(-15).join('\n');
    throw new Error(`stack ${args.join(' ')} failed (exit ${r.code}):\n${reason}`);
  }
  return r.output;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(p));
    });
  });
}

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

function connect(token: string, cid: string): Promise<Socket> {
  const socket = io(base, { auth: { token }, query: { cid }, transports: ['websocket'], reconnection: false });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => reject(new Error(`socket (cid ${cid}) could not connect: ${err.message}`)));
  });
}

interface NewMessage {
  id: string;
  room: string;
  userId: string;
  text: string;
  ts: unknown;
  clientMsgId: string;
  instance: string;
}

/**
 * Sends from one socket and checks the other receives exactly that message,
 * exactly once, stamped by the sender's replica (so it crossed replicas).
 */
async function exchange(from: Socket, to: Socket, text: string, senderReplica: string): Promise<void> {
  const clientMsgId = `smoke-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const received: NewMessage[] = [];
  const onMessage = (m: NewMessage) => {
    if (m.clientMsgId === clientMsgId) received.push(m);
  };
  to.on('message:new', onMessage);
  try {
    const ack = await from.timeout(10_000).emitWithAck('message:send', { room: 'smoke', text, clientMsgId });
    expect(ack).toMatchObject({ ok: true, message: expect.objectContaining({ text, clientMsgId }) });
    const deadline = Date.now() + 10_000;
    while (!received.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000)); // time for a duplicate to show up
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ room: 'smoke', text, clientMsgId, id: expect.any(String), userId: expect.any(String), instance: expect.any(String) });
    expect(received[0].ts).toBeDefined();
    expect(received[0].instance).toBe(senderReplica);
  } finally {
    to.off('message:new', onMessage);
  }
}

describe('the compose stack through nginx', () => {
  let alice: Socket;
  let bob: Socket;
  let aliceReplica = '';
  let bobReplica = '';
  const disconnects: string[] = [];

  beforeAll(async () => {
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    await mustCli('up', '--replicas', '3');
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

  test('scaling to 4 and back to 3 keeps both sockets connected', async () => {
    expect(alice?.connected && bob?.connected).toBe(true);
    await mustCli('scale', '--replicas', '4');
    await mustCli('scale', '--replicas', '3');
    expect(disconnects).toEqual([]);
    expect(alice.connected && bob.connected).toBe(true);
    await exchange(bob, alice, 'still here after scaling', bobReplica);
    await exchange(alice, bob, 'and back', aliceReplica);
  });

  test('down leaves no container of the project behind', async () => {
    for (const s of sockets) s.disconnect();
    await mustCli('down', '--volumes');
    const left = await new Promise<string>((resolve) => {
      const ps = spawn('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
      let out = '';
      ps.stdout.on('data', (c: Buffer) => (out += c.toString()));
      ps.on('close', () => resolve(out.trim()));
    });
    expect(left).toBe('');
  });
});
