// Runs loadtest/k6/fanout.js with the k6 binary from scripts/ensure-k6.sh and
// turns its summary export into figures for the report.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ToolLoad } from '../profiles';

export interface Lat {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  p999?: number;
  max: number;
}

export interface ToolResult {
  tool: string;
  exitCode: number;
  sockets?: number;
  sent?: number;
  received?: number;
  expected?: number;
  errors: number;
  delivery?: Lat;
  connect?: Lat;
  error?: string;
  raw?: string;
}

const LOADTEST = path.resolve(__dirname, '..');

export function k6Binary(): string {
  return execFileSync(path.join(LOADTEST, 'scripts/ensure-k6.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
}

function trend(m: Record<string, number> | undefined): Lat | undefined {
  if (!m || !m.count) return undefined;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { count: m.count, p50: r(m.med), p95: r(m['p(95)']), p99: r(m['p(99)']), p999: r(m['p(99.9)']), max: r(m.max) };
}

/** In the compose network instead of on the host: the `loadtest` profile of compose/k6.yml, on this network. */
export interface InNetwork {
  network: string;
  image: string;
  project: string;
}

export async function runK6(url: string, load: ToolLoad, outPrefix: string, inNetwork?: InNetwork): Promise<ToolResult> {
  let bin: string;
  try {
    bin = k6Binary();
  } catch (e) {
    return { tool: 'k6', exitCode: 127, errors: 0, error: `k6 is missing: ${(e as Error).message.split('\n')[0]}` };
  }
  const summary = `${outPrefix}.summary.json`;
  const log = `${outPrefix}.log`;
  const env = {
    ...process.env,
    URL: url,
    SOCKETS: String(load.sockets),
    ROOMS: String(load.rooms),
    CONNECT_RATE: String(load.connectRate),
    MSG_PER_SEC: String(load.msgPerSec),
    DURATION_S: String(load.durationS),
    RUN: `${Date.now().toString(36)}`,
    K6_NO_USAGE_REPORT: 'true',
  };
  let cmd = bin;
  let args = ['run', '--quiet', '--no-color', '--summary-export', summary, path.join(LOADTEST, 'k6/fanout.js')];
  if (inNetwork) {
    // The same script and settings, from a container on the project's network.
    cmd = 'docker';
    const pass = ['URL', 'SOCKETS', 'ROOMS', 'CONNECT_RATE', 'MSG_PER_SEC', 'DURATION_S', 'RUN', 'K6_NO_USAGE_REPORT'].flatMap((k) => ['-e', `${k}=${env[k as keyof typeof env]}`]);
    args = ['compose', '-f', path.join(LOADTEST, 'compose/k6.yml'), '-p', inNetwork.project, '--profile', 'loadtest', 'run', '--rm', '--no-deps', ...pass, 'k6', 'run', '--quiet', '--no-color', '--summary-export', `/out/${path.basename(summary)}`, '/scripts/fanout.js'];
    Object.assign(env, { LT_TARGET_NETWORK: inNetwork.network, LT_K6_OUT: path.dirname(summary), K6_IMAGE: inNetwork.image, LT_K6_PROJECT: inNetwork.project });
  }
  // k6 ends by itself (gracefulStop); this is the backstop should it not: connects, sends, the stop grace, twice over.
  const limitMs = (2 * (Math.ceil(load.sockets / load.connectRate) + load.durationS + 35) + 120) * 1000;
  let killed = false;
  const exitCode = await new Promise<number>((resolve) => {
    const out = fs.openSync(log, 'w');
    const p = spawn(cmd, args, { env, stdio: ['ignore', out, out] });
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGTERM');
      setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
    }, limitMs);
    p.on('close', (c) => {
      clearTimeout(timer);
      fs.closeSync(out);
      resolve(c ?? 1);
    });
    p.on('error', () => resolve(127));
  });
  const res: ToolResult = { tool: 'k6', exitCode: killed && exitCode === 0 ? 1 : exitCode, errors: 0, raw: path.basename(summary), sockets: load.sockets };
  if (killed) {
    res.error = `stopped after ${Math.round(limitMs / 1000)} s without ending by itself; see ${path.basename(log)}`;
    return res;
  }
  try {
    const s = JSON.parse(fs.readFileSync(summary, 'utf8')) as { metrics: Record<string, Record<string, number>> };
    const m = s.metrics;
    res.delivery = trend(m.lt_delivery_ms);
    res.connect = trend(m.lt_connect_join_ms);
    res.sent = m.lt_sent?.count ?? 0;
    res.received = m.lt_received?.count ?? 0;
    res.expected = (m.lt_acked?.count ?? 0) * (load.sockets / load.rooms);
    res.errors = m.lt_errors?.count ?? 0;
    if (exitCode !== 0) res.error = `thresholds or run failed, see ${path.basename(log)}: ${fs.readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ')}`;
  } catch (e) {
    res.error = `no summary (${(e as Error).message}); see ${path.basename(log)}`;
  }
  return res;
}
