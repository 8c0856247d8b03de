// Where memory per connection goes: one Switchboard replica (the integration tests' real
// redis-server and FerretDB) or one stock baseline server (loadtest/baseline/server.js, with its
// own redis-server), a heap snapshot after 100 warm-up sockets came and went, N sockets that each
// log in, connect over WebSocket and join one of 50 rooms, and a second snapshot: the live heap per
// socket (a snapshot runs a full GC first) and the object kinds that grew most. RSS is printed but
// is not a figure to quote here (each snapshot grows it). Not a test: figures go to docs/benchmarks.md.
//   cd services/realtime && npm run build && npx tsx scripts/measure-heap-per-socket.ts
// SB_MEASURE_TARGET (switchboard | stock), SB_MEASURE_SOCKETS (1500), SB_MEASURE_TOP (20 rows).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'socket.io-client';
import { connect, emitAck, login, startCluster, startRedisServer } from '../test/support/cluster';
import { startProcess, stopProcess } from '../test/support/processes';
import { freePort, waitFor } from '@switchboard/test-kit';
import { sleep } from '../test/support/processes';

const N = Number(process.env.SB_MEASURE_SOCKETS ?? 1500);
const STOCK = process.env.SB_MEASURE_TARGET === 'stock';
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-heap-'));

function heapByName(file: string): Map<string, { n: number; size: number }> {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const f = snap.snapshot.meta.node_fields as string[];
  const types = snap.snapshot.meta.node_types[0] as string[];
  const w = f.length, it = f.indexOf('type'), iname = f.indexOf('name'), isz = f.indexOf('self_size');
  const out = new Map<string, { n: number; size: number }>();
  const nodes = snap.nodes as number[];
  for (let i = 0; i < nodes.length; i += w) {
    const t = types[nodes[i + it]];
    let name = t === 'object' || t === 'closure' || t === 'native' ? `${t}:${snap.strings[nodes[i + iname]]}` : t;
    if (t === 'string' || t === 'concatenated string' || t === 'sliced string') name = 'string';
    const e = out.get(name) ?? { n: 0, size: 0 };
    e.n++; e.size += nodes[i + isz];
    out.set(name, e);
  }
  return out;
}

function tailOf(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(16);
    const n = fs.readSync(fd, buf, 0, 16, Math.max(0, fs.fstatSync(fd).size - 16));
    return buf.subarray(0, n).toString();
  } finally {
    fs.closeSync(fd);
  }
}

async function snapshot(pid: number, tag: string): Promise<string> {
  const before = new Set(fs.readdirSync(DIR));
  process.kill(pid, 'SIGUSR2');
  for (;;) {
    await sleep(500);
    const added = fs.readdirSync(DIR).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (added.length) {
      const p = `${DIR}/${added[0]}`;
      // Written in chunks with no signal of its end: done when it stops growing and ends its JSON.
      let last = -1;
      for (;;) {
        await sleep(1000);
        const size = fs.statSync(p).size;
        if (size === last && size > 16 && tailOf(p).trimEnd().endsWith('}')) break;
        last = size;
      }
      fs.renameSync(p, `${DIR}/${tag}.heapsnapshot`);
      return `${DIR}/${tag}.heapsnapshot`;
    }
  }
}

async function main() {
  let cluster: { replicas: { url: string; proc: { child: { pid?: number } } }[]; stop(): Promise<void> };
  if (STOCK) {
    const redis = await startRedisServer();
    if (!redis.env.REDIS_URL) throw new Error('the stock baseline speaks to a single Redis: unset SB_TEST_REDIS');
    const port = await freePort();
    const proc = startProcess('stock', process.execPath, [path.join(__dirname, '../../../loadtest/baseline/server.js')], { ...redis.env, REDIS_URL: redis.env.REDIS_URL, PORT: String(port), METRICS_PORT: String(await freePort()), NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${DIR}` });
    await waitFor('stock /health', async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok === true, 30_000);
    cluster = { replicas: [{ url: `http://127.0.0.1:${port}`, proc }], stop: async () => { await stopProcess(proc); await redis.stop(); } };
  } else cluster = await startCluster({
    replicas: 1,
    env: {
      NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${DIR}`,
      LOG_LEVEL: 'warn', RATE_LIMIT_LOGINS: '1000000/1s', RATE_LIMIT_HTTP: '1000000/1s', RATE_LIMIT_JOINS: '1000000/1s',
      RATE_LIMIT_HANDSHAKES: '1000000/1s', SOCKETS_PER_USER_MAX: '10000',
    },
  });
  const r = cluster.replicas[0];
  console.log('target', STOCK ? 'stock' : 'switchboard');
  const pid = r.proc.child.pid!;
  const rss = () => Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);
  const sockets: Socket[] = [];
  try {
    // Warm-up: 100 sockets come and go, so first-use code and caches are in both snapshots.
    for (let i = 0; i < 100; i++) { const { token } = await login(r.url, `w${i}`); const s = await connect(r.url, token); await emitAck(s, 'room:join', { room: `room${i % 50}` }); sockets.push(s); }
    for (const s of sockets.splice(0)) s.close();
    await sleep(3000);
    const a = await snapshot(pid, 'a');
    const rssA = rss();
    for (let i = 0; i < N; i++) {
      const { token } = await login(r.url, `u${i}`);
      const s = await connect(r.url, token);
      await emitAck(s, 'room:join', { room: `room${i % 50}` });
      sockets.push(s);
    }
    await sleep(5000);
    const rssB = rss();
    const b = await snapshot(pid, 'b');
    const ha = heapByName(a), hb = heapByName(b);
    let ta = 0, tb = 0;
    for (const v of ha.values()) ta += v.size;
    for (const v of hb.values()) tb += v.size;
    console.log(`sockets ${N}: heap ${(ta / 1048576).toFixed(1)} -> ${(tb / 1048576).toFixed(1)} MiB, ${((tb - ta) / N / 1024).toFixed(2)} KiB/socket; RSS ${rssA} -> ${rssB} MiB`);
    const rows = [...hb.entries()].map(([k, v]) => { const o = ha.get(k) ?? { n: 0, size: 0 }; return { k, dn: v.n - o.n, ds: v.size - o.size }; });
    rows.sort((x, y) => y.ds - x.ds);
    for (const x of rows.slice(0, Number(process.env.SB_MEASURE_TOP ?? 20))) console.log(`${(x.ds / N).toFixed(0).padStart(7)} B/socket ${(x.dn / N).toFixed(2).padStart(7)} /socket  ${x.k.slice(0, 100)}`);
  } finally {
    for (const s of sockets) s.close();
    await cluster.stop();
    fs.rmSync(DIR, { recursive: true, force: true });
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
