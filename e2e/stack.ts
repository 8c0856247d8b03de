// The compose stack as the e2e suites see it: the stack CLI (the same verbs as
// `make up|down|kill|start|pause|resume|scale`) for this run's own project, and
// small probes through nginx.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { sleep, waitFor as kitWaitFor } from '@switchboard/test-kit';

export const ROOT = path.resolve(__dirname, '..');
const execFileAsync = promisify(execFile);

/** Short presence timings so TTL expiry is seconds; rate limits raised because every browser shares one address. */
export const SERVICE_ENV: Record<string, string> = {
  PRESENCE_TTL_MS: '3000',
  PRESENCE_REFRESH_MS: '1000',
  PRESENCE_SWEEP_MS: '1000',
  RATE_LIMIT_LOGINS: '1000/60s',
  RATE_LIMIT_MESSAGES: '1000/10s',
  RATE_LIMIT_JOINS: '1000/60s',
  RATE_LIMIT_HTTP: '20000/60s',
  // RATE_LIMIT_EVENTS stays at its default (100/1s): the bad-input spec needs the flood limit.
};

export function project(): string {
  const p = process.env.SB_E2E_PROJECT;
  if (!p) throw new Error('SB_E2E_PROJECT is not set: run through playwright.config.ts (global setup)');
  return p;
}
export function baseUrl(): string {
  return process.env.SB_E2E_BASE_URL!;
}

export interface CliResult { code: number; output: string; stdout: string }

/** Runs the stack CLI for the e2e project; progress goes to stderr (shown by Playwright). */
export function cli(args: string[], opts: { quiet?: boolean } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'deploy/stack/src/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...SERVICE_ENV },
    });
    let output = '';
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); output += c.toString(); if (!opts.quiet) process.stderr.write(c); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString(); if (!opts.quiet) process.stderr.write(c); });
    child.on('close', (code) => resolve({ code: code ?? 1, output, stdout }));
  });
}

export async function mustCli(...args: string[]): Promise<string> {
  const r = await cli(args);
  if (r.code !== 0) {
    throw new Error(`stack ${args.join(' ')} failed (exit ${r.code}):\n${r.output.trim().split('\n').slice(-15).join('\n')}`);
  }
  return r.stdout;
}

/** The chaos verbs, exactly what `make kill|start|pause|resume TARGET=...` run. */
export const chaos = {
  kill: (target: string) => mustCli('kill', '--target', target),
  start: (target: string) => mustCli('start', '--target', target),
  pause: (target: string) => mustCli('pause', '--target', target),
  resume: (target: string) => mustCli('resume', '--target', target),
  scale: (n: number) => mustCli('scale', '--replicas', String(n)),
};

export interface Health {
  status: string;
  instance: string;
  nodeId: string;
  uptimeSec: number;
  connections: number;
  services: Record<string, string>;
}

async function fetchWithTimeout(url: string, ms = 10_000): Promise<Response> {
  return fetch(url, { signal: AbortSignal.timeout(ms), cache: 'no-store' } as RequestInit);
}

/** /health through nginx with that client id: which replica it reaches and what it says. */
export async function health(cid: string): Promise<{ servedBy: string; body: Health; status: number }> {
  const res = await fetchWithTimeout(`${baseUrl()}/health?cid=${encodeURIComponent(cid)}`);
  const body = (await res.json()) as Health;
  return { servedBy: res.headers.get('x-served-by') ?? body.instance, body, status: res.status };
}

/** The realtime replicas the project runs, from `status --json` (e.g. ["realtime-1", ...]). */
export async function runningReplicas(): Promise<string[]> {
  const r = await cli(['status', '--json'], { quiet: true });
  const doc = JSON.parse(r.stdout) as { containers: { service: string; replica: string; state: string }[] };
  return doc.containers.filter((c) => c.service === 'realtime' && c.state === 'running').map((c) => c.replica).sort();
}

/**
 * One client id per live replica (probing /health?cid= through nginx), e.g.
 * { 'realtime-1': 'e2e-probe-0', ... }. Stops when every wanted replica answered.
 */
export async function cidsByReplica(want: string[], prefix = 'e2e-probe'): Promise<Map<string, { cid: string; health: Health }>> {
  const found = new Map<string, { cid: string; health: Health }>();
  for (let i = 0; i < 400 && found.size < want.length; i++) {
    const cid = `${prefix}-${i}`;
    try {
      const h = await health(cid);
      if (want.includes(h.servedBy) && !found.has(h.servedBy)) found.set(h.servedBy, { cid, health: h.body });
    } catch { /* a replica on its way down: keep probing */ }
  }
  return found;
}

/** A client id (with a unique prefix) that nginx sends to that replica. */
export async function cidFor(replica: string, prefix: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const cid = `${prefix}-${i}`;
    if ((await health(cid)).servedBy === replica) return cid;
  }
  throw new Error(`no client id with prefix ${prefix} reaches ${replica}`);
}

/**
 * sb_unhandled_rejections_total of the replica that client id reaches, read from
 * its internal metrics listener (METRICS_PORT, 9464) inside its container: nginx
 * does not proxy it, the main port's /metrics is 404.
 */
export async function unhandledRejections(cid: string): Promise<{ servedBy: string; value: number }> {
  const { servedBy } = await health(cid);
  const read = "fetch('http://127.0.0.1:9464/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))";
  const { stdout: text } = await execFileAsync('docker', ['exec', `${project()}-${servedBy}`, 'node', '-e', read], { timeout: 15_000, maxBuffer: 8 << 20 });
  const line = text.split('\n').find((l) => l.startsWith('sb_unhandled_rejections_total'));
  if (!line) throw new Error(`no sb_unhandled_rejections_total in the metrics of ${servedBy}`);
  return { servedBy, value: Number(line.trim().split(/\s+/).pop()) };
}

export { sleep };

/** The kit's waitFor, polling every 250 ms by default: each probe goes through nginx. */
export const waitFor = <T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, everyMs = 250): Promise<T> =>
  kitWaitFor(what, fn, timeoutMs, everyMs);
