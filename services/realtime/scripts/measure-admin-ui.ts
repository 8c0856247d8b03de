// What the admin UI costs on the hot path: three replicas on this host (the integration tests'
// real redis-server, FerretDB and service processes), chat clients spread over them in one room,
// a fixed message rate, and the replicas' CPU time per message with the admin UI off, in
// production mode, in development mode, and in development mode with the UI's socket connected.
// Not a test: figures go to docs/operations.md ("The admin UI").
//   cd services/realtime && npm run build && npx tsx scripts/measure-admin-ui.ts
// SB_MEASURE_SECONDS (20), SB_MEASURE_RATE (messages/s, 100), SB_MEASURE_CLIENTS (30), SB_MEASURE_ROUNDS (2).
import fs from 'node:fs';
import os from 'node:os';
import { io as ioClient, type Socket } from 'socket.io-client';
import { connect, emitAck, login, startCluster, type Cluster } from '../test/support/cluster';
import { sleep } from '../test/support/processes';

const SECONDS = Number(process.env.SB_MEASURE_SECONDS ?? 20);
const RATE = Number(process.env.SB_MEASURE_RATE ?? 100);
const CLIENTS = Number(process.env.SB_MEASURE_CLIENTS ?? 30);
const ROUNDS = Number(process.env.SB_MEASURE_ROUNDS ?? 2);
const PASSWORD = 'measure-admin-ui-password';

interface Variant { label: string; env: Record<string, string>; adminSocket?: boolean }
const VARIANTS: Variant[] = [
  { label: 'off', env: {} },
  { label: 'production mode', env: { ADMIN_UI_PASSWORD: PASSWORD, ADMIN_UI_MODE: 'production' } },
  { label: 'development mode', env: { ADMIN_UI_PASSWORD: PASSWORD, ADMIN_UI_MODE: 'development' } },
  { label: 'development mode, UI connected', env: { ADMIN_UI_PASSWORD: PASSWORD, ADMIN_UI_MODE: 'development' }, adminSocket: true },
];

/** utime + stime of a process, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Result { cpuPerMsg: number; redisPerMsg: number; cpuPerDelivery: number; sent: number; delivered: number; p99: number }

async function run(variant: Variant): Promise<Result> {
  const cluster: Cluster = await startCluster({
    replicas: 3,
    env: { ...variant.env, RATE_LIMIT_MESSAGES: '1000000/10s', RATE_LIMIT_JOINS: '100000/60s', RATE_LIMIT_LOGINS: '100000/60s', RATE_LIMIT_HTTP: '100000/60s', LOG_LEVEL: 'warn' },
  });
  const sockets: Socket[] = [];
  try {
    const latencies: number[] = [];
    let delivered = 0;
    for (let i = 0; i < CLIENTS; i++) {
      const url = cluster.replicas[i % 3].url;
      const { token } = await login(url, `u${i}`);
      const s = await connect(url, token);
      await emitAck(s, 'room:join', { room: 'bench' });
      s.on('message:new', (m: { text: string }) => {
        delivered++;
        latencies.push(Date.now() - Number(m.text.split(' ')[1]));
      });
      sockets.push(s);
    }
    if (variant.adminSocket) {
      const admin = ioClient(`${cluster.replicas[0].url}/admin`, { auth: { username: 'admin', password: PASSWORD }, transports: ['websocket'], forceNew: true });
      admin.on('event_received', () => undefined);
      admin.on('event_sent', () => undefined);
      sockets.push(admin);
      await new Promise((resolve) => admin.once('connect', resolve));
    }
    await sleep(2000);
    const pids = cluster.replicas.map((r) => r.proc.child.pid!);
    const inspect = cluster.redisClient();
    const redisPid = Number(/process_id:(\d+)/.exec(await inspect.info('server'))![1]);
    inspect.disconnect();
    const before = pids.map(cpuMs);
    const redisBefore = cpuMs(redisPid);
    let sent = 0;
    const started = Date.now();
    while (Date.now() - started < SECONDS * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * RATE);
      for (; sent < due; sent++) {
        const s = sockets[sent % CLIENTS];
        s.emit('message:send', { room: 'bench', text: `m ${Date.now()}`, clientMsgId: `c${sent}` }, () => undefined);
      }
      await sleep(5);
    }
    await sleep(2000);
    const cpu = pids.map(cpuMs).reduce((sum, v, i) => sum + v - before[i], 0);
    const redisCpu = cpuMs(redisPid) - redisBefore;
    latencies.sort((a, b) => a - b);
    return { cpuPerMsg: cpu / sent, redisPerMsg: redisCpu / sent, cpuPerDelivery: cpu / delivered, sent, delivered, p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN };
  } finally {
    for (const s of sockets) s.close();
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  console.log(`${SECONDS} s at ${RATE} messages/s, ${CLIENTS} clients in one room over 3 replicas, ${ROUNDS} rounds`);
  const results = new Map<string, Result[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const v of VARIANTS) {
      const r = await run(v);
      console.log(`round ${round} ${v.label} (load ${os.loadavg()[0].toFixed(1)}): ${r.sent} sent, ${r.delivered} delivered, ${r.cpuPerMsg.toFixed(2)} ms replicas' CPU and ${r.redisPerMsg.toFixed(2)} ms Redis CPU per message, ${(r.cpuPerDelivery * 1000).toFixed(0)} µs per delivery, p99 ${r.p99} ms`);
      results.set(v.label, [...(results.get(v.label) ?? []), r]);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const base = median(results.get('off')!.map((r) => r.cpuPerMsg));
  const redisBase = median(results.get('off')!.map((r) => r.redisPerMsg));
  const pct = (m: number, b: number) => `${m >= b ? '+' : ''}${((m / b - 1) * 100).toFixed(0)}%`;
  console.log('\n| admin UI | replicas CPU per message (ms) | vs off | Redis CPU per message (ms) | vs off | p99 delivery (ms) |\n| --- | --- | --- | --- | --- | --- |');
  for (const [label, rs] of results) {
    const m = median(rs.map((r) => r.cpuPerMsg));
    const rm = median(rs.map((r) => r.redisPerMsg));
    console.log(`| ${label} | ${m.toFixed(2)} | ${pct(m, base)} | ${rm.toFixed(2)} | ${pct(rm, redisBase)} | ${median(rs.map((r) => r.p99))} |`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
