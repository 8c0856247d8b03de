// The stock baseline as plain processes on loopback, no Docker: a
// redis-server of its own and N `node baseline/server.js` replicas on free
// ports (the harness's own test of the small ws client, and the environment
// tax measurements of docs/benchmarks.md). Generators connect to a replica
// directly; cross-replica deliveries go through Redis as in the cluster.
// stop() ends every process it started, also after a failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from '@switchboard/test-kit';

const BASELINE = path.resolve(__dirname, '../baseline');

export interface LocalStock {
  /** one base URL per replica */
  urls: string[];
  metricsUrls: string[];
  /** nginx in front of the replicas (the repository's nginx.conf), when asked for */
  nginxUrl?: string;
  /** what each process is, for the CPU accounting: redis, stock-1.., nginx (its master; workers are found by parent) */
  pids: Record<string, number>;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, '../..');

/**
 * The repository's nginx.conf for a host nginx: listening on loopback at
 * `port`, the upstream rendered with the replicas' ports, pid, logs and temp
 * files in `dir`.
 */
export function localNginxConf(dir: string, port: number, upstreamPorts: number[]): string {
  fs.writeFileSync(path.join(dir, 'upstream.conf'), upstreamPorts.map((p) => `server 127.0.0.1:${p} max_fails=3 fail_timeout=10s;`).join('\n') + '\n');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${dir}/${t};`).join('\n');
  const conf = fs
    .readFileSync(path.join(ROOT, 'nginx.conf'), 'utf8')
    .replace('include /etc/nginx/switchboard-upstream/*.conf;', `include ${dir}/upstream.conf;`)
    .replace(/listen 80;/, `listen 127.0.0.1:${port};`)
    .replace(/^error_log .*$/m, `error_log ${dir}/error.log warn;\npid ${dir}/nginx.pid;`)
    .replace(/^http \{$/m, `http {\n${temp}`);
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, conf);
  return file;
}

/** The baseline's own dependencies (its lockfile), installed once into loadtest/baseline/node_modules. */
export function ensureBaselineDeps(): void {
  if (fs.existsSync(path.join(BASELINE, 'node_modules', 'socket.io', 'package.json'))) return;
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--prefix', BASELINE], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`Installing the stock baseline's dependencies failed (npm ci in loadtest/baseline): ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
}

const answers = (url: string) => () =>
  fetch(url, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.status === 200,
    () => false,
  );

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

export async function startLocalStock(o: { replicas: number; redisServer?: string; nginx?: boolean }): Promise<LocalStock> {
  ensureBaselineDeps();
  const procs: ChildProcess[] = [];
  // The replicas first, then Redis (started first): no replica sees its Redis go.
  const stop = async () => {
    for (const group of [procs.slice(1), procs.slice(0, 1)]) {
      for (const p of group) if (p.exitCode === null) p.kill('SIGTERM');
      await Promise.race([Promise.all(group.map(exited)), new Promise((r) => setTimeout(r, 5000))]);
      for (const p of group) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  };
  try {
    const redisPort = await freePort();
    const redis = spawn(o.redisServer ?? 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(redis);
    let redisLog = '';
    redis.stdout!.on('data', (c: Buffer) => (redisLog = (redisLog + c.toString()).slice(-4000)));
    await new Promise<void>((resolve, reject) => {
      redis.once('error', (e) => reject(new Error(`redis-server could not start (${e.message}): install it with apt-get install redis-server`)));
      redis.once('spawn', () => resolve());
    });
    await waitFor(`redis-server on port ${redisPort}`, () => redisLog.includes('Ready to accept connections'), 10_000);
    const urls: string[] = [];
    const metricsUrls: string[] = [];
    for (let i = 1; i <= o.replicas; i++) {
      const port = await freePort();
      const metricsPort = await freePort();
      const p = spawn(process.execPath, [path.join(BASELINE, 'server.js')], {
        env: { ...process.env, PORT: String(port), METRICS_PORT: String(metricsPort), REDIS_URL: `redis://127.0.0.1:${redisPort}`, INSTANCE_NAME: `stock-${i}` },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      procs.push(p);
      urls.push(`http://127.0.0.1:${port}`);
      metricsUrls.push(`http://127.0.0.1:${metricsPort}/metrics`);
    }
    for (const url of urls) await waitFor(`the stock replica at ${url}`, answers(`${url}/health`), 20_000);
    const pids: Record<string, number> = { redis: redis.pid! };
    procs.slice(1).forEach((p, i) => (pids[`stock-${i + 1}`] = p.pid!));
    let nginxUrl: string | undefined;
    if (o.nginx) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sblt-nginx-'));
      const port = await freePort();
      const conf = localNginxConf(dir, port, urls.map((u) => Number(new URL(u).port)));
      const nginx = spawn('nginx', ['-c', conf, '-p', dir, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] });
      procs.push(nginx);
      await new Promise<void>((resolve, reject) => {
        nginx.once('error', (e) => reject(new Error(`nginx could not start (${e.message}): install it with apt-get install nginx`)));
        nginx.once('spawn', () => resolve());
      });
      nginxUrl = `http://127.0.0.1:${port}`;
      await waitFor(`nginx on port ${port}`, answers(`${nginxUrl}/nginx-health`), 10_000);
      pids.nginx = nginx.pid!;
    }
    return { urls, metricsUrls, nginxUrl, pids, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
