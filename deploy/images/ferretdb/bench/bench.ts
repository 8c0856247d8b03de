// make bench-db: Switchboard's own MongoDB operations against FerretDB on each
// backend, several runs each, and the database's CPU per operation (its
// process tree, from /proc). What chose the local stand-in; the table it
// prints goes in docs/benchmarks.md. Not a test: it checks nothing.
//
// BENCH_CONFIGS=sqlite,postgresql,postgresql-async  BENCH_RUNS=3  BENCH_MESSAGES=100000
// (FERRETDB_BIN: another binary than the one `make test-deps` builds)
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Connection, Model } from 'mongoose';
import { messageModel, type MessageDoc } from '../../../../services/realtime/src/chat/message.model';
import { MessageWriter } from '../../../../services/realtime/src/chat/message-writer';
import { UserWriteQueue } from '../../../../services/realtime/src/users/user-writes';
import type { UserDoc } from '../../../../services/realtime/src/users/index';
import { ferretDbBinaryPath } from '../../../stack/src/images';

const ROOT = path.resolve(__dirname, '../../../..');
const SERVICE = path.join(ROOT, 'services/realtime');
const mongoose = createRequire(path.join(SERVICE, 'package.json'))('mongoose') as typeof import('mongoose');
const FERRETDB = process.env.FERRETDB_BIN ?? ferretDbBinaryPath();

const CONFIGS: Record<string, string[]> = {
  sqlite: ['-backend', 'sqlite'],
  postgresql: ['-backend', 'postgresql', '-synchronous-commit', 'on'],
  'postgresql-async': ['-backend', 'postgresql', '-synchronous-commit', 'off'],
};
const configs = (process.env.BENCH_CONFIGS ?? 'sqlite,postgresql,postgresql-async').split(',');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const REPLICAS = 3; // writers at once, as the compose stack's replicas
const POOL = 10; // MONGO_POOL_SIZE's default
const ROOMS = 100;
const CLK_TCK = 100;

type Figures = Record<string, number>;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** CPU seconds of a process and every descendant (children it reaped count in its cutime). */
function treeCpu(root: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const s = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      // gone meanwhile
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 10; p = stats.get(p)?.ppid ?? 0, hops++) if (p === root) return true;
    return false;
  };
  let ticks = 0;
  for (const [pid, s] of stats) if (inTree(pid)) ticks += s.ticks;
  return ticks / CLK_TCK;
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function startFerretDb(config: string): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-db-'));
  const child = spawn(FERRETDB, ['-listen', `127.0.0.1:${port}`, '-data', data, ...CONFIGS[config]], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`ferretdb (${config}) did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    child,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
}

const userSchema = new mongoose.Schema<UserDoc>(
  { _id: String, name: String, createdAt: Number, lastLoginAt: Number, lastSeen: Number },
  { versionKey: false, collection: 'users' },
);
const reminderSchema = new mongoose.Schema(
  { _id: String, to: { type: String, index: true }, from: String, room: String, messageId: String, text: String, mentionedAt: Number, deliveredAt: Number },
  { versionKey: false, collection: 'reminders' },
);

/** Times `fn` and the database's CPU over it. */
async function measured<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; seconds: number; cpu: number }> {
  const cpu0 = treeCpu(pid);
  const t0 = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - t0) / 1000, cpu: treeCpu(pid) - cpu0 };
}

async function oneRun(config: string): Promise<Figures> {
  const db = await startFerretDb(config);
  const pid = db.child.pid!;
  const conns: Connection[] = [];
  const f: Figures = {};
  try {
    for (let i = 0; i < REPLICAS; i++) {
      conns.push(await mongoose.createConnection(`mongodb://127.0.0.1:${db.port}/bench`, { maxPoolSize: POOL, bufferCommands: false }).asPromise());
    }
    const messages = conns.map((c) => messageModel(c));
    await messages[0].init();

    // Group commit: each replica's MessageWriter with 20 senders at once, flat out.
    const perReplica = 3000;
    const latencies: number[] = [];
    const insert = await measured(pid, () =>
      Promise.all(messages.map(async (m, r) => {
        const w = new MessageWriter(m, { maxBatch: 256, deadlineMs: 60_000 });
        let next = 0;
        await Promise.all(Array.from({ length: 20 }, async () => {
          while (next < perReplica) {
            const i = next++;
            const t = performance.now();
            await w.insert({ room: `room-${i % ROOMS}`, userId: `u-${r}-${i % 500}`, text: `hello ${i}`, clientMsgId: `w-${r}-${i}`, ts: Date.now(), instance: `r${r}` });
            latencies.push(performance.now() - t);
          }
        }));
      })),
    );
    const sent = perReplica * REPLICAS;
    Object.assign(f, { 'insert msg/s': sent / insert.seconds, 'insert p50 ms': pct(latencies, 50), 'insert p99 ms': pct(latencies, 99), 'insert CPU µs/msg': (insert.cpu / sent) * 1e6 });

    // Seed the collection to MESSAGES, then the reads the service makes of it.
    const seedFrom = sent;
    for (let i = seedFrom; i < MESSAGES; i += 1000) {
      const docs = [];
      for (let j = i; j < Math.min(i + 1000, MESSAGES); j++) {
        docs.push({ room: `room-${j % ROOMS}`, userId: `u-${j % 1000}`, text: `seed ${j}`, clientMsgId: `s-${j}`, ts: 1_700_000_000_000 + j, instance: 'seed' });
      }
      await messages[0].insertMany(docs, { ordered: false, lean: true });
    }
    const reads = async (name: string, times: number, query: (i: number) => Promise<unknown>) => {
      const each: number[] = [];
      const m = await measured(pid, async () => {
        for (let i = 0; i < times; i++) {
          const t = performance.now();
          await query(i);
          each.push(performance.now() - t);
        }
      });
      f[`${name} ms`] = pct(each, 50);
      f[`${name} CPU ms`] = (m.cpu / times) * 1000;
    };
    await reads('history page', 3, (i) => messages[0].find({ room: `room-${(i * 37) % ROOMS}` }).sort({ ts: -1, _id: -1 }).limit(50).lean<MessageDoc[]>());
    await reads('clientMsgId lookup', 3, (i) => messages[0].findOne({ userId: `u-${(i * 131) % 1000}`, clientMsgId: `s-${MESSAGES - 1000 + ((i * 131) % 1000)}` }).lean());
    await reads('window fill', 2, (i) => messages[0].find({ room: { $in: Array.from({ length: 10 }, (_, k) => `room-${(i * 10 + k) % ROOMS}`) } }).sort({ ts: -1, _id: -1 }).limit(2000).lean());

    // User writes: each replica's UserWriteQueue; new users (inserts), then returning ones (bulks of 25 updates).
    const users = conns.map((c) => c.model<UserDoc>('User', userSchema));
    const bulks: number[] = [];
    const queues = users.map((u) => new UserWriteQueue(u, {
      maxBatch: 500, maxPending: 50_000, deadlineMs: 600_000, loginIntervalMs: 0,
      onUpdateBulk: (s) => bulks.push(s * 1000), onFlushed: () => undefined, onError: (err) => { throw err; }, onDropped: () => undefined,
    }));
    const perQueue = 300;
    const created = await measured(pid, async () => {
      queues.forEach((q, r) => { for (let i = 0; i < perQueue; i++) q.login(`user-${r}-${i}`, 'first', 1000); });
      await Promise.all(queues.map((q) => q.drain()));
    });
    const updated = await measured(pid, async () => {
      queues.forEach((q, r) => { for (let i = 0; i < perQueue; i++) { q.login(`user-${r}-${i}`, 'again', 2000); q.seen(`user-${r}-${i}`, 3000); } });
      await Promise.all(queues.map((q) => q.drain()));
    });
    const updates = 2 * perQueue * REPLICAS; // a login update and a lastSeen update per user
    Object.assign(f, {
      'new users/s': (perQueue * REPLICAS) / created.seconds,
      'updates/s': updates / updated.seconds,
      'bulk of 25 p50 ms': pct(bulks, 50),
      'bulk of 25 p99 ms': pct(bulks, 99),
      'update CPU µs': (updated.cpu / updates) * 1e6,
    });

    // Reminder upserts, 5 at a time per replica.
    const reminders = conns.map((c) => c.model('Reminder', reminderSchema));
    await reminders[0].init();
    const perReplicaReminders = 200;
    const upserts = await measured(pid, () =>
      Promise.all(reminders.map(async (m, r) => {
        let next = 0;
        await Promise.all(Array.from({ length: 5 }, async () => {
          while (next < perReplicaReminders) {
            const i = next++;
            await m.updateOne({ _id: `rem-${r}-${i}` }, { $setOnInsert: { to: `u-${i}`, from: 'x', room: 'room-1', messageId: 'm', text: 't', mentionedAt: i, deliveredAt: null } }, { upsert: true });
          }
        }));
      })),
    );
    const n = perReplicaReminders * REPLICAS;
    Object.assign(f, { 'reminder upserts/s': n / upserts.seconds, 'upsert CPU µs': (upserts.cpu / n) * 1e6 });
    return f;
  } finally {
    await Promise.allSettled(conns.map((c) => c.close()));
    await db.stop();
  }
}

function fmt(v: number): string {
  return v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

async function main(): Promise<void> {
  if (!fs.existsSync(FERRETDB)) throw new Error(`${FERRETDB} is missing: run make test-deps`);
  const results = new Map<string, Figures[]>();
  for (let run = 1; run <= RUNS; run++) {
    // Interleaved, so a busy spell on the machine does not land on one backend only.
    for (const config of configs) {
      if (!CONFIGS[config]) throw new Error(`unknown config ${config}: ${Object.keys(CONFIGS).join(', ')}`);
      const t0 = Date.now();
      const f = await oneRun(config);
      console.error(`run ${run} ${config}: ${Math.round((Date.now() - t0) / 1000)} s ${JSON.stringify(f, (_k, v) => (typeof v === 'number' ? Number(fmt(v)) : v))}`);
      results.set(config, [...(results.get(config) ?? []), f]);
    }
  }
  const names = Object.keys(results.get(configs[0])![0]);
  console.log(`\n${RUNS} runs each, ${MESSAGES} messages, ${REPLICAS} writers: median (min–max)\n`);
  console.log(`| operation | ${configs.join(' | ')} |`);
  console.log(`| --- | ${configs.map(() => '---').join(' | ')} |`);
  for (const name of names) {
    const cells = configs.map((c) => {
      const vs = results.get(c)!.map((f) => f[name]).sort((a, b) => a - b);
      return `${fmt(vs[Math.floor(vs.length / 2)])} (${fmt(vs[0])}–${fmt(vs[vs.length - 1])})`;
    });
    console.log(`| ${name} | ${cells.join(' | ')} |`);
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
