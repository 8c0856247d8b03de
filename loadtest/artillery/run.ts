// Runs loadtest/artillery/fanout.yml with the Artillery 2 this package
// depends on: logs the users in first (users.csv payload: the socketio engine
// connects before any flow step, so the token must be there already), then
// reads `artillery run -o` output for the report.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Lat, ToolResult } from '../k6/run';
import type { ToolLoad } from '../profiles';

const LOADTEST = path.resolve(__dirname, '..');
/** npm installs Artillery beside this workspace or, when nothing conflicts, hoisted to the root. */
const ARTILLERY_BINS = [LOADTEST, path.resolve(LOADTEST, '..')].map((dir) => path.join(dir, 'node_modules/.bin/artillery'));

function lat(s: Record<string, number> | undefined): Lat | undefined {
  if (!s || !s.count) return undefined;
  return { count: s.count, p50: s.p50 ?? s.median, p95: s.p95, p99: s.p99, p999: s.p999, max: s.max };
}

export async function runArtillery(url: string, load: ToolLoad, outPrefix: string): Promise<ToolResult> {
  const bin = ARTILLERY_BINS.find((f) => fs.existsSync(f));
  if (!bin) return { tool: 'artillery', exitCode: 127, errors: 0, error: 'artillery is not installed: run make install' };
  const run = Date.now().toString(36);
  // users.csv next to the script (Artillery resolves payload paths against it); one run at a time.
  const rows: string[] = ['userId,token,cid,room,producer'];
  for (let i = 0; i < load.sockets; i++) {
    const userId = `art-${run}-u${i}`;
    const cid = `art-${run}-${i}`;
    let token: string | undefined;
    let why = '';
    try {
      const res = await fetch(`${url}/api/login?cid=${cid}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }), signal: AbortSignal.timeout(20_000) });
      why = `HTTP ${res.status}`;
      token = ((await res.json().catch(() => ({}))) as { token?: string }).token; // not JSON: `why` already names the HTTP status
    } catch (e) {
      why = (e as Error).message;
    }
    if (!token) return { tool: 'artillery', exitCode: 1, errors: 1, sockets: load.sockets, error: `logging in the VUs failed (${why}) before Artillery could start` };
    const body = { token };
    rows.push([userId, body.token, cid, `art-${run}-${i % load.rooms}`, i < load.rooms ? '1' : '0'].join(','));
  }
  const csv = path.join(LOADTEST, 'artillery/users.csv');
  fs.writeFileSync(csv, rows.join('\n') + '\n');
  const connectS = Math.ceil(load.sockets / load.connectRate);
  const out = `${outPrefix}.json`;
  const log = `${outPrefix}.log`;
  const env = {
    ...process.env,
    LT_ROOMS: String(load.rooms),
    LT_MSG_PER_SEC: String(load.msgPerSec),
    LT_DURATION_S: String(load.durationS),
    LT_CONNECT_S: String(connectS),
    LT_CONNECT_RATE: String(load.connectRate),
    ARTILLERY_DISABLE_TELEMETRY: 'true',
    DO_NOT_TRACK: '1',
  };
  const overrides = JSON.stringify({ config: { phases: [{ name: 'connect storm', duration: connectS, arrivalRate: load.connectRate }] } });
  const args = ['run', '--target', url, '--overrides', overrides, '-o', out, path.join(LOADTEST, 'artillery/fanout.yml')];
  // A backstop should Artillery not end by itself (VUs waiting on a stack that stopped answering): the planned run twice over, plus 2 min.
  const limitMs = (2 * (connectS + load.durationS + 10) + 120) * 1000;
  let killed = false;
  const exitCode = await new Promise<number>((resolve) => {
    const fd = fs.openSync(log, 'w');
    const p = spawn(bin, args, { env, cwd: LOADTEST, stdio: ['ignore', fd, fd] });
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGTERM');
      setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
    }, limitMs);
    p.on('close', (c) => {
      clearTimeout(timer);
      fs.closeSync(fd);
      resolve(c ?? 1);
    });
    p.on('error', () => resolve(127));
  });
  fs.rmSync(csv, { force: true });
  const res: ToolResult = { tool: 'artillery', exitCode: killed && exitCode === 0 ? 1 : exitCode, errors: 0, raw: path.basename(out), sockets: load.sockets };
  if (killed) {
    res.error = `stopped after ${Math.round(limitMs / 1000)} s without ending by itself; see ${path.basename(log)}`;
    return res;
  }
  try {
    const j = JSON.parse(fs.readFileSync(out, 'utf8')) as { aggregate: { counters: Record<string, number>; summaries: Record<string, Record<string, number>> } };
    const c = j.aggregate.counters;
    const s = j.aggregate.summaries;
    res.delivery = lat(s['lt.delivery_ms']);
    res.connect = lat(s['lt.connect_ms']);
    res.sent = c['lt.sent'] ?? 0;
    res.received = c['lt.received'] ?? 0;
    res.expected = (c['lt.acked'] ?? 0) * (load.sockets / load.rooms);
    res.errors = (c['vusers.failed'] ?? 0) + (c['lt.send_errors'] ?? 0);
    if (exitCode !== 0) res.error = `exit ${exitCode}, see ${path.basename(log)}: ${fs.readFileSync(log, 'utf8').trim().split('\n').slice(-4).join(' | ')}`;
  } catch (e) {
    res.error = `no output (${(e as Error).message}); see ${path.basename(log)}`;
  }
  return res;
}
