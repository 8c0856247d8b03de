import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { io as ioClient, type Socket } from 'socket.io-client';
import type { ChatMessage } from '@switchboard/protocol';
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
import { Cluster as RedisCluster, type Redis } from 'ioredis';
import { RedisTopology as ServiceRedisTopology } from '../../src/infra/redis-topology';
import { topologyFromEnv, type RedisTopology, type TopologyKind } from './redis-topology';

import { login } from '@switchboard/test-kit';

export { login };

/** The Redis topology of this jest run: SB_TEST_REDIS=single|cluster|sentinel (single when unset). */
export const TEST_REDIS = (process.env.SB_TEST_REDIS || 'single') as TopologyKind;
/** For tests that only make sense on one topology: `onlyOn('single')('...', fn)`. */
export const onlyOn = (...kinds: TopologyKind[]) => (kinds.includes(TEST_REDIS) ? it : it.skip);

/** Short presence timings so expiry tests finish in seconds. */
export const FAST_PRESENCE = { PRESENCE_TTL_MS: '3000', PRESENCE_REFRESH_MS: '1000', PRESENCE_SWEEP_MS: '1000' };

export interface Replica {
  name: string;
  port: number;
  url: string;
  /** The internal listener serving /metrics (METRICS_PORT): not the main port. */
  metricsUrl: string;
  proc: Proc;
}

/** Every started replica's metrics listener by its main url, for helpers that are handed the url. */
const metricsUrls = new Map<string, string>();
/** The metrics listener of the replica serving `url` (`${metricsOf(r.url)}/metrics`). */
export function metricsOf(url: string): string {
  const m = metricsUrls.get(url);
  if (!m) throw new Error(`no replica started at ${url}`);
  return m;
}

export interface Cluster {
  mongoPort: number;
  replicas: Replica[];
  /** The Redis deployment the replicas use (SB_TEST_REDIS). */
  redis: RedisTopology;
  /** The environment that points a service process at it. */
  redisEnv: Record<string, string>;
  mongoUrl: string;
  /** A client for inspecting Redis (a Cluster client on a cluster); the caller disconnects it. */
  redisClient(): Redis | RedisCluster;
  /** Every key on every primary (SCAN, tests only). */
  allKeys(pattern?: string): Promise<string[]>;
  /** FLUSHALL on every primary. */
  flushAll(): Promise<void>;
  /** CLIENT PAUSE <ms> WRITE on every primary: writes block (and time out in the service) while reads go on. */
  pauseWrites(ms: number): Promise<void>;
  /** Every primary's pub/sub connections (CLIENT LIST TYPE pubsub), for failure messages. */
  pubsubClients(): Promise<string>;
  /**
   * Starts one more replica with the cluster's environment (a restart: a new process, a new node id); stop() stops it too.
   * `env` changes that replica's own (undefined removes a variable).
   */
  startReplica(name: string, env?: Record<string, string | undefined>): Promise<Replica>;
  /** Kills every Redis data node (SIGKILL): Redis is gone for the service, whatever the topology. */
  killRedis(): Promise<void>;
  /** Starts them again on the same ports and data (append-only) and waits until the topology is whole. */
  startRedis(): Promise<void>;
  /** Kills the MongoDB-wire server (SIGKILL). */
  killMongo(): Promise<void>;
  /** Starts it again on the same port and data. */
  startMongo(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The FerretDB `make test-deps` builds from deploy/images/ferretdb: named by a
 * hash of its sources (ferretDbBinaryPath in deploy/stack/src/images.ts), so a
 * worktree sharing .tools runs the one built from its own sources.
 */
export function ferretDbBinary(): string {
  if (process.env.FERRETDB_BIN) return process.env.FERRETDB_BIN;
  const src = path.join(REPO_ROOT, 'deploy', 'images', 'ferretdb');
  const hash = crypto.createHash('sha256');
  for (const f of fs.readdirSync(src).filter((f) => /\.go$|^go\.(mod|sum)$/.test(f)).sort()) hash.update(f).update(fs.readFileSync(path.join(src, f)));
  return path.join(REPO_ROOT, '.tools', 'bin', `ferretdb-${hash.digest('hex').slice(0, 16)}`);
}

/**
 * Redis of the run's topology for tests of one capability's classes: `topology`
 * builds clients the way the service does.
 */
export async function startRedisServer(): Promise<{ topology: ServiceRedisTopology; env: Record<string, string>; stop(): Promise<void> }> {
  const redis = await topologyFromEnv();
  return { topology: serviceTopology(redis.env), env: redis.env, stop: () => redis.stop() };
}

/** The service's connection factory for a test topology's environment. */
export function serviceTopology(env: Record<string, string>): ServiceRedisTopology {
  return new ServiceRedisTopology({
    REDIS_MODE: (env.REDIS_MODE ?? 'single') as TopologyKind,
    REDIS_URL: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_CLUSTER_NODES: env.REDIS_CLUSTER_NODES,
    REDIS_SENTINELS: env.REDIS_SENTINELS,
    REDIS_SENTINEL_NAME: env.REDIS_SENTINEL_NAME ?? 'mymaster',
  });
}

/** The primaries of an inspection client (every master on a cluster). */
async function primariesOf(client: Redis | RedisCluster): Promise<Redis[]> {
  if (!(client instanceof RedisCluster)) return [client];
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  return client.nodes('master');
}

/**
/**
 * A FerretDB (MongoDB wire protocol) of its own on a free port, on a PostgreSQL
 * of its own that it starts in the data directory (deploy/images/ferretdb).
 * `dataDir` reuses one (a restart), `args` adds flags. kill() is a crash
 * (SIGKILL: its PostgreSQL stops with it); start() brings it back on the same
 * port and data. stop() stops both, also after the FerretDB process was
 * killed, and removes the data unless `keepData`.
 */
export async function startFerretDb(
  label = 'ferretdb',
  opts: { dataDir?: string; args?: string[] } = {},
): Promise<{
  port: number;
  proc: Proc;
  dataDir: string;
  url(db: string): string;
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(opts?: { keepData?: boolean }): Promise<void>;
}> {
  const bin = requireBinary(ferretDbBinary(), 'run `make test-deps` (builds FerretDB from deploy/images/ferretdb into .tools/bin)');
  const port = await freePort();
  const dataDir = opts.dataDir ?? tempDir(label);
  const args = opts.args ?? [];
  const spawnIt = () => startProcess(label, bin, ['-listen', `127.0.0.1:${port}`, '-data', dataDir, ...args]);
  let proc = spawnIt();
  let postgres: PostgresServer | undefined;
  const ready = async () => {
    await waitFor(label, async () => {
      if (proc.child.exitCode !== null) throw new Error(`${label} exited:\n${proc.output()}`);
      return canConnect(port);
    }, 60_000);
    postgres = readPostgres(dataDir);
  };
  const stop = async ({ keepData = false } = {}) => {
    proc.child.kill('SIGCONT'); // a test may have frozen it
    // Startup (initdb) can take a while on a loaded machine: the grace covers a stop that comes during it.
    await stopProcess(proc, 30_000);
    await stopPostgres(postgres ?? readPostgres(dataDir));
    if (!keepData) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const kill = async () => {
    killGroup(proc.child, 'SIGKILL');
    await proc.exited;
    // Its PostgreSQL follows it (a parent-death signal); start() needs it gone.
    await stopPostgres(postgres ?? readPostgres(dataDir));
  };
  const start = async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) return;
    proc = spawnIt();
    await ready();
  };
  try {
    await ready();
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, get proc() { return proc; }, dataDir, url: (db) => `mongodb://127.0.0.1:${port}/${db}`, kill, start, stop };
}

interface PostgresServer {
  pid: number;
  socketDir: string;
}

/** The running PostgreSQL of a FerretDB data directory (postmaster.pid: line 1 its pid, line 5 its socket directory). */
function readPostgres(dataDir: string): PostgresServer | undefined {
  try {
    const lines = fs.readFileSync(path.join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n');
    return { pid: Number(lines[0]), socketDir: lines[4] ?? '' };
  } catch {
    return undefined; // not started, or stopped (it removes the file)
  }
}

/**
 * Waits for a FerretDB's PostgreSQL to exit (it stops on its own when FerretDB
 * dies: a parent-death signal) and removes its socket directory, which a
 * killed FerretDB leaves behind.
 */
async function stopPostgres(pg: PostgresServer | undefined): Promise<void> {
  if (!pg) return;
  const alive = () => {
    try {
      process.kill(pg.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (pg.pid > 0) await waitFor(`PostgreSQL ${pg.pid} stopped`, () => !alive(), 30_000).catch(() => process.kill(pg.pid, 'SIGKILL'));
  if (path.basename(pg.socketDir).startsWith('ferretdb-pg-')) fs.rmSync(pg.socketDir, { recursive: true, force: true });
}

export async function startCluster(opts: { replicas?: number; env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<Cluster> {
  const main = requireBinary(path.join(SERVICE_ROOT, 'dist', 'main.js'), 'run `npm run build` in services/realtime');

  // Append-only like the compose stack's Redis, so a killed Redis comes back with its sessions.
  const redis = await topologyFromEnv({ appendonly: true });
  const startRedis = async () => {
    await Promise.all(redis.dataNodes().map((n) => n.start()));
    await redis.waitHealthy();
  };
  let ferret: Awaited<ReturnType<typeof startFerretDb>>;
  try {
    ferret = await startFerretDb();
  } catch (err) {
    await redis.stop();
    throw err;
  }

  const mongoUrl = ferret.url('switchboard');
  const replicas: Replica[] = [];
  const spawnReplica = async (name: string, env: Record<string, string | undefined> = {}): Promise<Replica> => {
    const port = await freePort();
    const metricsPort = await freePort();
    const proc = startProcess(name, process.execPath, [...(opts.nodeArgs ?? []), main], {
      NODE_ENV: 'test',
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      // The tests log in through POST /api/login; `ops` is the demo operator (admin role).
      AUTH_DEMO_LOGIN: 'true',
      AUTH_DEMO_ADMINS: 'ops',
      HOST: '127.0.0.1',
      INSTANCE_NAME: name,
      ...redis.env,
      MONGO_URL: mongoUrl,
      LOG_LEVEL: 'info',
      ...opts.env,
      ...env,
    });
    const replica = { name, port, url: `http://127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${metricsPort}`, proc };
    metricsUrls.set(replica.url, replica.metricsUrl);
    replicas.push(replica);
    return replica;
  };
  const waitHealthy = async (first: Replica, env?: Record<string, string | undefined>): Promise<Replica> => {
    let r = first;
    // A free port is free when chosen, not when the replica listens: another process started
    // meanwhile may hold it (EADDRINUSE). Then the replica starts again on new ports.
    for (let attempt = 1; ; attempt++) {
      const exited = await waitFor(`${r.name} /health ok`, async () => {
        if (r.proc.child.exitCode !== null) return 'exited';
        const h = await health(r.url);
        return h.body.status === 'ok' ? 'ok' : false;
      }, 60_000);
      if (exited === 'ok') return r;
      if (attempt >= 3 || !r.proc.output().includes('EADDRINUSE')) throw new Error(`${r.name} exited:\n${r.proc.output()}`);
      replicas.splice(replicas.indexOf(r), 1);
      metricsUrls.delete(r.url);
      r = await spawnReplica(r.name, env);
    }
  };
  const stop = async () => {
    await Promise.allSettled(replicas.map((r) => stopProcess(r.proc)));
    await Promise.allSettled([redis.stop(), ferret.stop()]);
  };
  try {
    for (let i = 1; i <= (opts.replicas ?? 3); i++) await spawnReplica(`realtime-${i}`);
    for (const r of [...replicas]) await waitHealthy(r);
  } catch (err) {
    await stop();
    throw err;
  }

  const redisClient = () => redis.client();
  const onPrimaries = async <T>(fn: (node: Redis) => Promise<T>): Promise<T[]> => {
    const client = redisClient();
    try {
      return await Promise.all((await primariesOf(client)).map(fn));
    } finally {
      client.disconnect();
    }
  };
  return {
    mongoPort: ferret.port,
    replicas,
    redis,
    redisEnv: redis.env,
    mongoUrl,
    redisClient,
    async allKeys(pattern = '*') {
      const perNode = await onPrimaries(async (node) => {
        const keys: string[] = [];
        for await (const batch of node.scanStream({ match: pattern, count: 500 }) as AsyncIterable<string[]>) keys.push(...batch);
        return keys;
      });
      return perNode.flat();
    },
    async flushAll() {
      await onPrimaries((node) => node.flushall());
    },
    async pauseWrites(ms: number) {
      await onPrimaries((node) => node.call('CLIENT', 'PAUSE', String(ms), 'WRITE'));
    },
    async pubsubClients() {
      const lists = await onPrimaries(async (node) => `${node.options.port}:\n${String(await node.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))}`);
      return lists.join('\n');
    },
    async killRedis() {
      await Promise.all(redis.dataNodes().map((n) => n.kill('SIGKILL')));
    },
    async startReplica(name: string, env?: Record<string, string | undefined>) {
      const r = await waitHealthy(await spawnReplica(name, env), env);
      return r;
    },
    startRedis,
    killMongo: () => ferret.kill(),
    startMongo: () => ferret.start(),
    stop,
  };
}

export async function health(url: string): Promise<{ status: number; body: any; servedBy: string | null }> {
  const res = await fetch(`${url}/health`);
  return { status: res.status, body: await res.json(), servedBy: res.headers.get('x-served-by') };
}

export async function api(url: string, path: string, token: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  return { status: res.status, body: await res.json() };
}

/** A connected socket.io-client; rejects with the connect_error message. */
export async function connect(url: string, token: string | undefined, opts: { reconnection?: boolean; headers?: Record<string, string> } = {}): Promise<Socket> {
  const socket = ioClient(url, {
    auth: token === undefined ? {} : { token },
    transports: ['websocket'],
    forceNew: true,
    reconnection: opts.reconnection ?? false,
    timeout: 10_000,
    extraHeaders: opts.headers,
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

/** A logged-in client connected to one replica; its socket goes into `sockets`, for the caller to close. */
export async function openClient(cluster: Cluster, replica: number, userId: string, sockets: Socket[]): Promise<{ socket: Socket; token: string; url: string; userId: string }> {
  const url = cluster.replicas[replica].url;
  const { token } = await login(url, userId);
  const socket = await connect(url, token);
  sockets.push(socket);
  return { socket, token, url, userId };
}

/** Sends a message and expects it stored; resolves with the stored message. */
export async function sendOk(client: { socket: Socket; userId: string }, room: string, text: string, clientMsgId = `${client.userId}-${text}`): Promise<ChatMessage> {
  const ack = await emitAck(client.socket, 'message:send', { room, text, clientMsgId });
  if (!ack.ok) throw new Error(`message:send answered ${JSON.stringify(ack)}`);
  return ack.message as ChatMessage;
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
