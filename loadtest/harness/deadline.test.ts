// The setup deadlines end-to-end in the harness, without Docker: the worker
// processes against a local HTTP server that stops answering (logins that
// never come back, the wedged-database case of docs/benchmarks.md) or answers
// slowly. Every phase must come back with a count, never wait for good.
//   node --import tsx --test harness/deadline.test.ts (npm test)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { judgeSetup } from '../lib/deadline';
import { nowMs } from '../lib/clock';
import { Coordinator } from './coordinator';
import { CrossReplicaProbe } from './probe';
import type { ClientSpec } from './client-spec';

let server: http.Server;
let url = '';
/** how /api/login behaves: 'hang' never answers; a number answers a token after that many ms */
let login: 'hang' | number = 'hang';
const held = new Set<http.ServerResponse>();

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    if (req.url?.startsWith('/api/login') && login !== 'hang') {
      const t = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 't' })), login);
      res.on('close', () => clearTimeout(t));
      return;
    }
    held.add(res); // never answered
  });
  server.on('upgrade', () => undefined); // WebSocket upgrades are never answered either
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const r of held) r.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const clients = (n: number, tag: string): ClientSpec[] => Array.from({ length: n }, (_, i) => ({ key: `${tag}${i}`, userId: `u-${tag}${i}`, cid: `c-${tag}${i}`, rooms: ['r'], at: nowMs() + i * 10 }));

test('logins that never answer: every client counts as failed after its own timeouts', async () => {
  login = 'hang';
  const h = new Coordinator(2);
  try {
    const t0 = nowMs();
    const r = await h.connect('hung-login', url, clients(6, 'a'), { transports: ['websocket'], timeoutMs: 400 });
    assert.equal(r.ok, 0);
    assert.equal(r.failed, 6);
    assert.ok(nowMs() - t0 < 10_000, `took ${nowMs() - t0} ms`);
    assert.ok(Object.keys(r.errors).every((k) => k.startsWith('login:')), JSON.stringify(r.errors));
    const j = judgeSetup({ expected: 6, ok: r.ok, tookMs: r.tookMs!, deadlineMs: r.deadlineMs, errors: r.errors });
    assert.match(j.error!, /^0 of 6 sockets connected within \d+ s; the stack is not accepting connections/);
  } finally {
    await h.close();
  }
});

test('socket connects that never answer: counted as failed at the connect stage', async () => {
  login = 0;
  const h = new Coordinator(1);
  try {
    const r = await h.connect('hung-connect', url, clients(3, 'b'), { transports: ['websocket'], timeoutMs: 400 });
    assert.equal(r.ok, 0);
    assert.equal(r.failed, 3);
    assert.ok(Object.keys(r.errors).every((k) => k.startsWith('connect:')), JSON.stringify(r.errors));
  } finally {
    await h.close();
  }
});

test('the phase deadline cuts off clients still under way, long before their own timeouts', async () => {
  login = 5000; // slow logins, each well within its 20 s timeout
  const h = new Coordinator(2);
  try {
    const t0 = nowMs();
    const r = await h.connect('cut', url, clients(4, 'c'), { transports: ['websocket'], timeoutMs: 20_000, deadlineMs: 800 });
    const took = nowMs() - t0;
    assert.equal(r.ok, 0);
    assert.equal(r.failed, 4);
    assert.equal(r.deadlineMs, 800);
    assert.ok(took < 4000, `took ${took} ms`);
    assert.deepEqual(Object.keys(r.errors), ['deadline: not connected and joined within 1 s']);
  } finally {
    await h.close();
  }
});

test('the chat mix stops at its deadline and counts the users still busy', async () => {
  login = 5000;
  const h = new Coordinator(2);
  try {
    const t0 = nowMs();
    const users = Array.from({ length: 4 }, (_, i) => ({ key: `cm${i}`, userId: `cm-u${i}`, cid: `cm-${i}`, at: nowMs(), until: nowMs() + 2000, rooms: ['r'] }));
    const r = await h.chat({ phase: 'chat', url, transports: ['websocket'], timeoutMs: 20_000, thinkMs: 500, typingMs: 100, history: false, typing: false, deadlineAt: nowMs() + 800 }, users);
    assert.ok(nowMs() - t0 < 4000, `took ${nowMs() - t0} ms`);
    assert.equal(r.counts.connected ?? 0, 0);
    assert.equal(r.errors['deadline: user not done in time'], 4);
  } finally {
    await h.close();
  }
});

test('the chaos probe gives up at its deadline instead of retrying for good', async () => {
  login = 'hang';
  const t0 = nowMs();
  await assert.rejects(
    CrossReplicaProbe.start(
      url,
      [
        ['realtime-1', 'p1'],
        ['realtime-2', 'p2'],
      ],
      100,
      1000,
    ),
    /the cross-replica probe could not log in, connect, join and send within 1 s .*the stack is not accepting connections/,
  );
  assert.ok(nowMs() - t0 < 3000);
});
