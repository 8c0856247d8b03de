import fs from 'node:fs';
import path from 'node:path';
import { io as ioClient, type Socket } from 'socket.io-client';
import {
  REPO_ROOT,
  SERVICE_ROOT,
  canConnect,
  freePort,
  killGroup,
  requireBinary,
  startProcess,
  stopProcess,
  tempDir,
  waitFor,
  type Proc,
} from './processes';

/** Short presence timings so expiry tests finish in seconds. */
export const FAST_PRESENCE = { PRESENCE_TTL_MS: '3000', PRESENCE_REFRESH_MS: '1000', PRESENCE_SWEEP_MS: '1000' };

export interface Replica {
  name: string;
  port: number;
  url: string;
  proc: Proc;
}

export interface Cluster {
  redisPort: number;
  mongoPort: number;
  replicas: Replica[];
  redisUrl: string;
  mongoUrl: string;
  /** Starts one more replica with the cluster's environment (a restart: a new process, a new node id); stop() stops it too. */
  startReplica(name: string): Promise<Replica>;
  /** Stops and starts redis-server on the same port, with the same (empty) data. */
  killRedis(): Promise<void>;
  startRedis(): Promise<void>;
  stop(): Promise<void>;
}

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';
const FERRETDB_BIN = process.env.FERRETDB_BIN ?? path.join(REPO_ROOT, '.tools', 'bin', 'ferretdb');

/** A lone redis-server on a free port, for tests of one capability's classes. */
export async function startRedisServer(): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  requireBinary(REDIS_BIN, 'run `make test-deps` (installs redis-server)');
  const port = await freePort();
  const proc = startProcess('redis', REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitFor('redis-server', () => canConnect(port));
  return { url: `redis://127.0.0.1:${port}`, port, stop: async () => void (await stopProcess(proc)) };
}

export async function startCluster(opts: { replicas?: number; env?: Record<string, string> } = {}): Promise<Cluster> {
  requireBinary(REDIS_BIN, 'run `make test-deps` (installs redis-server)');
  requireBinary(FERRETDB_BIN, 'run `make test-deps` (builds FerretDB into .tools/bin)');
  const main = requireBinary(path.join(SERVICE_ROOT, 'dist', 'main.js'), 'run `npm run build` in services/realtime');

  const redisPort = await freePort();
  const mongoPort = await freePort();
  const dataDir = tempDir('ferretdb');
  const redisDir = tempDir('redis');
  let redis: Proc | undefined;
  const startRedis = async () => {
    // Append-only like the compose stack's Redis, so a killed Redis comes back with its sessions.
    redis = startProcess('redis', REDIS_BIN, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', redisDir]);
    await waitFor('redis-server', () => canConnect(redisPort));
  };
  await startRedis();
  const mongo = startProcess('ferretdb', FERRETDB_BIN, ['-listen', `127.0.0.1:${mongoPort}`, '-data', dataDir]);
  await waitFor('ferretdb', () => canConnect(mongoPort));

  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const mongoUrl = `mongodb://127.0.0.1:${mongoPort}/switchboard`;
  const replicas: Replica[] = [];
  const spawnReplica = async (name: string): Promise<Replica> => {
    const port = await freePort();
    const proc = startProcess(name, process.execPath, [main], {
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      INSTANCE_NAME: name,
      REDIS_URL: redisUrl,
      MONGO_URL: mongoUrl,
      LOG_LEVEL: 'info',
      ...opts.env,
    });
    const replica = { name, port, url: `http://127.0.0.1:${port}`, proc };
    replicas.push(replica);
    return replica;
  };
  const waitHealthy = (r: Replica) =>
    waitFor(`${r.name} /health ok`, async () => {
      if (r.proc.child.exitCode !== null) throw new Error(`${r.name} exited:\n${r.proc.output()}`);
      const h = await health(r.url);
      return h.body.status === 'ok';
    }, 60_000);
  for (let i = 1; i <= (opts.replicas ?? 3); i++) await spawnReplica(`realtime-${i}`);
  for (const r of [...replicas]) await waitHealthy(r);

  return {
    redisPort,
    mongoPort,
    replicas,
    redisUrl,
    mongoUrl,
    async killRedis() {
      if (redis) {
        killGroup(redis.child, 'SIGKILL');
        await redis.exited;
      }
    },
    async startReplica(name: string) {
      const r = await spawnReplica(name);
      await waitHealthy(r);
      return r;
    },
    startRedis,
    async stop() {
      await Promise.allSettled(replicas.map((r) => stopProcess(r.proc)));
      await Promise.allSettled([redis && stopProcess(redis), stopProcess(mongo)]);
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(redisDir, { recursive: true, force: true });
    },
  };
}

export async function health(url: string): Promise<{ status: number; body: any; servedBy: string | null }> {
  const res = await fetch(`${url}/health`);
  return { status: res.status, body: await res.json(), servedBy: res.headers.get('x-served-by') };
}

export async function login(url: string, userId: string, name?: string): Promise<{ token: string; sessionId: string }> {
  const res = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(name ? { userId, name } : { userId }),
  });
  const body = (await res.json()) as { ok: boolean; token: string; sessionId: string };
  if (!body.ok) throw new Error(`login failed: ${JSON.stringify(body)}`);
  return body;
}

export async function api(url: string, path: string, token: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  return { status: res.status, body: await res.json() };
}

/** A connected socket.io-client; rejects with the connect_error message. */
export async function connect(url: string, token: string | undefined, opts: { reconnection?: boolean } = {}): Promise<Socket> {
  const socket = ioClient(url, {
    auth: token === undefined ? {} : { token },
    transports: ['websocket'],
    forceNew: true,
    reconnection: opts.reconnection ?? false,
    timeout: 10_000,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
  return socket;
}

export function emitAck<T = any>(socket: Socket, event: string, ...args: unknown[]): Promise<T> {
  return socket.timeout(10_000).emitWithAck(event, ...args) as Promise<T>;
}

/** Collects every payload of one event on a socket. */
export function collect<T = any>(socket: Socket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}
