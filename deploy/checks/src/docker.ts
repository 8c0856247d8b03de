// Docker helpers for the checks that run stacks: the engine, the images and
// the exec helper come from the stack CLI (deploy/stack/src), so these checks
// run on exactly what `make up` runs.
import https from 'node:https';
import http from 'node:http';
import { freePort, sleep } from '@switchboard/test-kit';
import { exec, mustExec, type ExecOptions, type Result } from '../../stack/src/exec';
import { ensureEngine } from '../../stack/src/engine';
import { prepareImages } from '../../stack/src/verbs/images';
import type { ImageSet } from '../../stack/src/images';

export { exec, freePort, mustExec, sleep };

/** Engine + Compose v2 (installed and started where missing) and every image, local or official. */
export async function readyImages(): Promise<ImageSet & { REALTIME_IMAGE: string }> {
  await ensureEngine();
  const images = await prepareImages({ engineChecked: true });
  return { ...images, REALTIME_IMAGE: process.env.REALTIME_IMAGE || 'switchboard/realtime:local' };
}

export function docker(args: string[], opts: ExecOptions = {}): Promise<Result> {
  return exec('docker', args, { timeoutMs: 10 * 60_000, ...opts });
}

export async function mustDocker(args: string[], opts: ExecOptions = {}): Promise<Result> {
  const r = await docker(args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}):\n${(r.stdout + r.stderr).trim().split('\n').slice(-20).join('\n')}`);
  return r;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTP(S) request; `ca` trusts that certificate explicitly (never rejectUnauthorized: false). */
export function request(url: string, opts: { method?: string; body?: unknown; ca?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Reply> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: opts.method ?? (body ? 'POST' : 'GET'),
        // A fresh connection per request: a kept-alive one can be closed by an
        // nginx worker retiring after a reload (route.sh), as `socket hang up`.
        agent: false,
        ca: opts.ca,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Retries until `check` returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
