// Where the CPU of a connect and of a message goes: one Switchboard replica (the integration
// tests' real redis-server and FerretDB) with --cpu-prof, N users that each log in, connect over
// WebSocket and join one of 50 rooms, paced at SB_PROFILE_RATE per second; then, with
// SB_PROFILE_SENDS=<msg/s>:<seconds>, messages from random users to their rooms. Prints, per
// connect and per delivered message, the CPU of each process kind (from /proc, every process of
// that name) and the Redis commands; then the replica's heaviest functions and packages over its
// whole life. Not a test: figures go to docs/benchmarks.md.
//   cd services/realtime && npm run build && npx tsx scripts/profile-hot-paths.ts
// SB_PROFILE_USERS (1000), SB_PROFILE_RATE (100), SB_PROFILE_NODE_ARGS (the image's: --max-semi-space-size=16),
// SB_PROFILE_CPU=0 (no profile, only the figures), SB_PROFILE_TOP (30 rows), SB_PROFILE_SENDS (off), SB_PROFILE_DISCONNECT=1 (all leave at once), SB_PROFILE_KEEP=1 keeps\n// the .cpuprofile (open it in Chrome DevTools).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'socket.io-client';
import { connect, emitAck, login, startCluster } from '../test/support/cluster';
import { sleep } from '../test/support/processes';

const N = Number(process.env.SB_PROFILE_USERS ?? 1000);
const RATE = Number(process.env.SB_PROFILE_RATE ?? 100);
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-prof-'));
const TICK = 100; // USER_HZ on Linux
const PROFILE = process.env.SB_PROFILE_CPU !== '0';
const SENDS = process.env.SB_PROFILE_SENDS;
const NODE_ARGS = (process.env.SB_PROFILE_NODE_ARGS ?? '--max-semi-space-size=16').split(' ').filter(Boolean);

/** CPU seconds by process name, every process on the machine. */
function cpuByName(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const replica = cmd.includes('dist/main.js');
      const kind = replica ? 'replica' : name.startsWith('postgres') ? 'postgres' : name;
      out.set(kind, (out.get(kind) ?? 0) + (Number(fields[11]) + Number(fields[12])) / TICK);
      // The replica's threads apart: the main thread, V8's GC helpers, libuv's pool.
      if (replica) {
        for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
          const t = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
          const thread = `replica thread ${t.slice(t.indexOf('(') + 1, t.lastIndexOf(')'))}`;
          const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
          out.set(thread, (out.get(thread) ?? 0) + (Number(f[11]) + Number(f[12])) / TICK);
        }
      }
    } catch {
      // the process ended between readdir and read
    }
  }
  return out;
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount: number; children?: number[] }

function summarise(file: string, top: number): void {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number };
  const total = prof.nodes.reduce((a, n) => a + n.hitCount, 0);
  const byFn = new Map<string, number>();
  const byPkg = new Map<string, number>();
  for (const n of prof.nodes) {
    const { functionName, url, lineNumber } = n.callFrame;
    const pkg = url.includes('node_modules/') ? url.split('node_modules/').pop()!.split('/').slice(0, url.includes('node_modules/@') ? 2 : 1).join('/') : url.startsWith('node:') ? url : url.includes('/dist/') ? 'switchboard' : functionName.startsWith('(') ? functionName : 'other';
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + n.hitCount);
    const key = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + n.hitCount);
  }
  const show = (m: Map<string, number>, rows: number) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, rows).forEach(([k, v]) => console.log(`${((100 * v) / total).toFixed(1).padStart(6)} %  ${k}`));
  console.log('\nself time by package');
  show(byPkg, 25);
  console.log('\nself time by function');
  show(byFn, top);
}

async function main() {
  const cluster = await startCluster({
    replicas: 1,
    nodeArgs: [...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${DIR}`] : []), ...NODE_ARGS],
    env: {
      LOG_LEVEL: 'warn', RATE_LIMIT_LOGINS: '1000000/1s', RATE_LIMIT_HTTP: '1000000/1s', RATE_LIMIT_JOINS: '1000000/1s',
      RATE_LIMIT_HANDSHAKES: '1000000/1s', RATE_LIMIT_MESSAGES: '1000000/1s', SOCKETS_PER_USER_MAX: '10000',
    },
  });
  const r = cluster.replicas[0];
  const sockets: Socket[] = [];
  const one = async (user: string, room: string) => {
    const { token } = await login(r.url, user);
    const s = await connect(r.url, token);
    sockets.push(s);
    const ack = await emitAck(s, 'room:join', { room });
    if (!ack.ok) throw new Error(`join: ${JSON.stringify(ack)}`);
  };
  try {
    for (let i = 0; i < 50; i++) await one(`w${i}`, `room${i}`);
    await sleep(2000);
    const commands = async () => {
      const calls = new Map<string, number>();
      const client = cluster.redisClient();
      try {
        for (const m of (await client.info('commandstats')).matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) calls.set(m[1], Number(m[2]));
      } finally {
        client.disconnect();
      }
      return calls;
    };
    const pid = r.proc.child.pid!;
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    const window = async (what: string, run: () => Promise<number>) => {
      const commandsBefore = await commands();
      const before = cpuByName();
      const units = await run();
      await sleep(1000);
      const after = cpuByName();
      const commandsAfter = await commands();
      console.log(`CPU per ${what} (ms), whole window:`);
      for (const [k, v] of [...after.entries()].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0.05).sort((a, b) => b[1] - a[1]))
        console.log(`${((v * 1000) / units).toFixed(3).padStart(8)}  ${k}`);
      const perUnit = [...commandsAfter.entries()].map(([k, v]) => [k, (v - (commandsBefore.get(k) ?? 0)) / units] as const).filter(([k, v]) => v > 0.01 && k !== 'info').sort((a, b) => b[1] - a[1]);
      console.log(`Redis commands per ${what} (a script's own included): ${perUnit.reduce((a, [, v]) => a + v, 0).toFixed(2)}`);
      for (const [k, v] of perUnit) console.log(`${v.toFixed(2).padStart(8)}  ${k}`);
    };
    const rssBefore = rss();
    await window('connect', async () => {
    const t0 = Date.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      const due = t0 + (i * 1000) / RATE;
      if (due > Date.now()) await sleep(due - Date.now());
      pending.push(one(`u${i}`, `room${i % 50}`));
    }
    await Promise.all(pending);
    console.log(`${N} connects at ${RATE}/s in ${((Date.now() - t0) / 1000).toFixed(1)} s (node ${NODE_ARGS.join(' ')}); replica RSS ${(rssBefore / 1024).toFixed(0)} -> ${(rss() / 1024).toFixed(0)} MiB, ${((rss() - rssBefore) / N).toFixed(1)} KiB per connection`);
    return N;
    });
    if (SENDS) {
      const [rate, seconds] = SENDS.split(':').map(Number);
      // What the same sockets cost with nothing sent (heartbeats, presence, timers), over the same time.
      await window(`second idle (${seconds} s)`, async () => {
        await sleep(seconds * 1000 - 1000);
        return seconds;
      });
      // One producer per room (its first member), as in the load test's fan-out; every socket counts deliveries.
      const producers = sockets.slice(0, 50);
      let delivered = 0;
      for (const s of sockets) s.on('message:new', () => delivered++);
      await window('delivered message', async () => {
        const t0 = Date.now();
        const acks: Promise<{ ok: boolean; error?: { code: string } }>[] = [];
        for (let i = 0; i < rate * seconds; i++) {
          const due = t0 + (i * 1000) / rate;
          if (due > Date.now()) await sleep(due - Date.now());
          acks.push(emitAck(producers[i % 50], 'message:send', { room: `room${i % 50}`, text: `m${i}`, clientMsgId: `p-${i}` }));
        }
        const refused = (await Promise.all(acks)).filter((a) => !a.ok).map((a) => a.error?.code);
        if (refused.length) throw new Error(`${refused.length} sends refused: ${[...new Set(refused)].join(', ')}`);
        await sleep(500);
        console.log(`${rate * seconds} messages at ${rate}/s, ${delivered} deliveries (${(delivered / (rate * seconds)).toFixed(1)} per message)`);
        return delivered;
      });
    }
    if (process.env.SB_PROFILE_DISCONNECT === '1') {
      // Every user leaves at once, as a load test's population does at its end: what the wave costs until it settles.
      await window('disconnect (the wave and 15 s after it)', async () => {
        for (const s of sockets.splice(0)) s.close();
        await sleep(14_000);
        return N + 50;
      });
    }
  } finally {
    for (const s of sockets) s.close();
    await cluster.stop();
  }
  const prof = fs.readdirSync(DIR).find((f) => f.endsWith('.cpuprofile'));
  if (prof) summarise(path.join(DIR, prof), Number(process.env.SB_PROFILE_TOP ?? 30));
  if (process.env.SB_PROFILE_KEEP) console.log(`\nprofile kept in ${DIR}`);
  else fs.rmSync(DIR, { recursive: true, force: true });
}
main().catch((e) => { console.error(e); process.exit(1); });
