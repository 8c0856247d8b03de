import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { canConnect, freePort, freePorts, killGroup, requireBinary, startProcess, stopProcess, tempDir, waitFor, type Proc } from './processes';

/**
 * The Redis deployments the service supports, started as plain redis-server
 * processes on free ports (no Docker): one server, a Redis Cluster of three
 * primaries with one replica each, or a primary and a replica watched by three
 * Sentinels. `env` is what a service process needs to reach it.
 */
export const TOPOLOGY_KINDS = ['single', 'cluster', 'sentinel'] as const;
export type TopologyKind = (typeof TOPOLOGY_KINDS)[number];
export type NodeRole = 'master' | 'replica' | 'sentinel';

export interface RedisNode {
  name: string;
  port: number;
  /** Asks the node itself (ROLE); rejects when it is down. */
  role(): Promise<NodeRole>;
  /** Signals the process group and waits for the exit (SIGKILL by default: a crash, nothing flushed). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and directory (a cluster node keeps its nodes.conf, so its identity). */
  start(): Promise<void>;
  isRunning(): boolean;
  /** The cluster node id (CLUSTER MYID); cluster nodes only. */
  clusterId(): Promise<string>;
}

export interface TopologyOptions {
  /** Append-only file with fsync always, so a restarted node comes back with its data (single mode tests of a Redis restart). */
  appendonly?: boolean;
  /** Cluster: cluster-node-timeout, the time before a silent primary is failed over. */
  clusterNodeTimeoutMs?: number;
  /** Sentinel: down-after-milliseconds, the time before a silent primary is failed over. */
  sentinelDownAfterMs?: number;
  sentinelFailoverTimeoutMs?: number;
  sentinelName?: string;
  /** How long start and waitHealthy may take on a loaded machine. */
  timeoutMs?: number;
}

export interface RedisTopology {
  kind: TopologyKind;
  /** REDIS_MODE plus REDIS_URL (single), REDIS_CLUSTER_NODES (cluster) or REDIS_SENTINELS + REDIS_SENTINEL_NAME (sentinel). */
  env: Record<string, string>;
  nodes: RedisNode[];
  /** The data nodes (not the sentinels). */
  dataNodes(): RedisNode[];
  /** The primary that owns `key` now: by hash slot on a cluster, the Sentinels' current master otherwise. */
  primaryForKey(key: string): Promise<RedisNode>;
  /** A client the way the service builds one (Cluster or Sentinel-aware); the caller quits it. */
  client(): Redis | Cluster;
  /** Resolves when every running node agrees on a whole, replicated topology again. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Runs redis-cli with these arguments (e.g. `--cluster reshard ...`) and returns its output. */
  redisCli(args: string[], timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';
const REDIS_CLI_BIN = process.env.REDIS_CLI_BIN ?? '/usr/bin/redis-cli';
const HOST = '127.0.0.1';
const CLUSTER_SLOTS = 16384;
const run = promisify(execFile);

/** The topology named by SB_TEST_REDIS (single, cluster or sentinel; single when unset). */
export function topologyFromEnv(opts: TopologyOptions = {}): Promise<RedisTopology> {
  const kind = (process.env.SB_TEST_REDIS || 'single') as TopologyKind;
  if (!TOPOLOGY_KINDS.includes(kind)) throw new Error(`SB_TEST_REDIS=${kind}: expected one of ${TOPOLOGY_KINDS.join(', ')}`);
  return startRedisTopology(kind, opts);
}

export async function startRedisTopology(kind: TopologyKind, opts: TopologyOptions = {}): Promise<RedisTopology> {
  requireBinary(REDIS_BIN, 'run `make test-deps` (installs redis-server)');
  const started: ManagedNode[] = [];
  try {
    switch (kind) {
      case 'single':
        return await startSingle(started, opts);
      case 'cluster':
        return await startClusterTopology(started, opts);
      case 'sentinel':
        return await startSentinelTopology(started, opts);
      default:
        throw new Error(`unknown Redis topology ${String(kind)}`);
    }
  } catch (err) {
    // A half-started topology must not outlive the failed test.
    await Promise.allSettled(started.map((n) => n.stopAndRemove()));
    throw err;
  }
}

// --- one redis-server (or sentinel) process ------------------------------------

class ManagedNode implements RedisNode {
  private proc: Proc | undefined;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    private readonly timeoutMs: number,
  ) {}

  async start(): Promise<void> {
    if (this.isRunning()) return;
    this.proc = startProcess(this.name, REDIS_BIN, this.args);
    await waitFor(`${this.name} on port ${this.port}`, async () => {
      if (this.proc!.child.exitCode !== null) throw new Error(`${this.name} exited:\n${this.proc!.output()}`);
      return canConnect(this.port);
    }, this.timeoutMs);
  }

  isRunning(): boolean {
    return this.proc !== undefined && this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.proc || !this.isRunning()) return;
    killGroup(this.proc.child, signal);
    await this.proc.exited;
  }

  async role(): Promise<NodeRole> {
    const [role] = (await this.command('ROLE')) as [string];
    if (role === 'master' || role === 'sentinel') return role;
    if (role === 'slave') return 'replica';
    throw new Error(`${this.name}: unexpected ROLE ${role}`);
  }

  async clusterId(): Promise<string> {
    return String(await this.command('CLUSTER', 'MYID'));
  }

  /** One command on a short-lived connection that fails fast instead of retrying. */
  async command(...args: string[]): Promise<unknown> {
    const conn = new Redis({ host: HOST, port: this.port, lazyConnect: true, connectTimeout: 2000, commandTimeout: 5000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    try {
      await conn.connect();
      return await conn.call(args[0], ...args.slice(1));
    } finally {
      conn.disconnect();
    }
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  async stopAndRemove(): Promise<void> {
    if (this.proc) await stopProcess(this.proc);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function newNode(started: ManagedNode[], name: string, extraArgs: (port: number, dir: string) => string[], opts: TopologyOptions, port?: number): Promise<ManagedNode> {
  const nodePort = port ?? (await freePort());
  const dir = tempDir(`redis-${name}`);
  const node = new ManagedNode(name, nodePort, dir, extraArgs(nodePort, dir), opts.timeoutMs ?? 60_000);
  started.push(node);
  return node;
}

/** The arguments every data node shares: its own port and directory, no persistence unless asked. */
function dataNodeArgs(port: number, dir: string, opts: TopologyOptions): string[] {
  const persistence = opts.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  return ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', ...persistence];
}

/** Connection errors while a primary is down are expected and retried; commands still reject with their own error. */
function quiet<T extends Redis | Cluster>(client: T): T {
  client.on('error', () => undefined);
  return client;
}

function baseTopology(kind: TopologyKind, nodes: ManagedNode[], opts: TopologyOptions) {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return {
    kind,
    nodes: nodes as RedisNode[],
    dataNodes: () => nodes.filter((n) => !n.name.startsWith('sentinel')) as RedisNode[],
    redisCli: async (args: string[], cliTimeoutMs = timeoutMs) => {
      requireBinary(REDIS_CLI_BIN, 'install redis-tools (redis-cli)');
      const { stdout, stderr } = await run(REDIS_CLI_BIN, args, { timeout: cliTimeoutMs, maxBuffer: 16 * 1024 * 1024 });
      return stdout + stderr;
    },
    stop: async () => {
      // Sentinels first, so they do not fail over a primary that is merely being stopped.
      const sentinels = nodes.filter((n) => n.name.startsWith('sentinel'));
      await Promise.allSettled(sentinels.map((n) => n.stopAndRemove()));
      await Promise.allSettled(nodes.filter((n) => !sentinels.includes(n)).map((n) => n.stopAndRemove()));
    },
  };
}

// --- single ------------------------------------------------------------------------

async function startSingle(started: ManagedNode[], opts: TopologyOptions): Promise<RedisTopology> {
  const node = await newNode(started, 'redis', (port, dir) => dataNodeArgs(port, dir, opts), opts);
  await node.start();
  const url = `redis://${HOST}:${node.port}`;
  return {
    ...baseTopology('single', [node], opts),
    env: { REDIS_MODE: 'single', REDIS_URL: url },
    primaryForKey: async () => node,
    client: () => quiet(new Redis(url, { maxRetriesPerRequest: 1 })),
    waitHealthy: async (timeoutMs = opts.timeoutMs ?? 60_000) => {
      await waitFor('redis PING', async () => (await node.command('PING')) === 'PONG', timeoutMs, 200);
    },
  };
}

// --- cluster: 3 primaries + 3 replicas ------------------------------------------------

async function startClusterTopology(started: ManagedNode[], opts: TopologyOptions): Promise<RedisTopology> {
  const nodeTimeout = opts.clusterNodeTimeoutMs ?? 2000;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const nodes: ManagedNode[] = [];
  // Each node's cluster bus gets a free port of its own: the default, port + 10000, may be
  // another node's port or taken, and does not exist for ports above 55535.
  const ports = await freePorts(12);
  for (let i = 0; i < 6; i++) {
    const busPort = ports[6 + i];
    nodes.push(
      await newNode(started, `redis-cluster-${i + 1}`, (port, dir) => [
        ...dataNodeArgs(port, dir, opts),
        '--cluster-enabled', 'yes',
        '--cluster-port', String(busPort),
        '--cluster-config-file', path.join(dir, 'nodes.conf'),
        '--cluster-node-timeout', String(nodeTimeout),
        // A replica whose primary died mid-test is promoted whatever its replication lag.
        '--cluster-replica-validity-factor', '0',
      ], opts, ports[i]),
    );
  }
  await Promise.all(nodes.map((n) => n.start()));
  const base = baseTopology('cluster', nodes, opts);
  await base.redisCli(['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']);

  const running = () => nodes.filter((n) => n.isRunning());
  const slotOwners = async (): Promise<Array<{ from: number; to: number; port: number }>> => {
    for (const n of running()) {
      try {
        const slots = (await n.command('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
        return slots.map(([from, to, [, port]]) => ({ from, to, port: Number(port) }));
      } catch {
        // ask the next node
      }
    }
    throw new Error('no cluster node answers CLUSTER SLOTS');
  };
  const topology: RedisTopology = {
    ...base,
    env: { REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: nodes.map((n) => `${HOST}:${n.port}`).join(',') },
    primaryForKey: async (key) => {
      const slot = Number(await running()[0].command('CLUSTER', 'KEYSLOT', key));
      const owner = (await slotOwners()).find((r) => slot >= r.from && slot <= r.to);
      const node = owner && nodes.find((n) => n.port === owner.port);
      if (!node) throw new Error(`no primary owns slot ${slot} of ${key}`);
      return node;
    },
    client: () => quiet(new Cluster(nodes.map((n) => ({ host: HOST, port: n.port })), { redisOptions: { maxRetriesPerRequest: 1 }, retryDelayOnFailover: 200, retryDelayOnClusterDown: 300 })),
    waitHealthy: (ms = timeoutMs) => waitClusterHealthy(running, ms),
  };
  await topology.waitHealthy();
  return topology;
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** Every running node: state ok, all slots served, every node known; every running replica in sync with its primary. */
async function waitClusterHealthy(running: () => ManagedNode[], timeoutMs: number): Promise<void> {
  let last = '';
  await waitFor('Redis Cluster healthy', async () => {
    const live = running();
    for (const n of live) {
      const info = String(await n.command('CLUSTER', 'INFO'));
      const state = infoField(info, 'cluster_state');
      const slotsOk = Number(infoField(info, 'cluster_slots_ok'));
      if (state !== 'ok' || slotsOk !== CLUSTER_SLOTS) return (last = `${n.name}: state ${state}, ${slotsOk} slots ok`), false;
      // A node that failed is still "known" while it is down; what matters is that no running node is flagged as failing.
      const view = String(await n.command('CLUSTER', 'NODES'));
      const flagged = view.split('\n').filter((line) => live.some((l) => line.includes(`:${l.port}@`)) && /fail|handshake|noaddr/.test(line.split(' ')[2] ?? ''));
      if (flagged.length > 0) return (last = `${n.name} still flags ${flagged.length} running node(s)`), false;
      if ((await n.role()) === 'replica') {
        const link = infoField(String(await n.command('INFO', 'replication')), 'master_link_status');
        if (link !== 'up') return (last = `${n.name}: master link ${link}`), false;
      }
    }
    return live.length > 0;
  }, timeoutMs, 250).catch((err: Error) => {
    throw new Error(`${err.message} (last: ${last})`);
  });
}

// --- sentinel: 1 primary + 1 replica + 3 sentinels ----------------------------------------

async function startSentinelTopology(started: ManagedNode[], opts: TopologyOptions): Promise<RedisTopology> {
  const name = opts.sentinelName ?? 'mymaster';
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const primary = await newNode(started, 'redis-primary', (port, dir) => dataNodeArgs(port, dir, opts), opts);
  await primary.start();
  const replica = await newNode(started, 'redis-replica', (port, dir) => [...dataNodeArgs(port, dir, opts), '--replicaof', HOST, String(primary.port)], opts);
  await replica.start();

  const sentinels: ManagedNode[] = [];
  for (let i = 1; i <= 3; i++) {
    sentinels.push(
      await newNode(started, `sentinel-${i}`, (port, dir) => {
        // Sentinel rewrites its config file (discovered replicas, epochs), so each has its own.
        const conf = path.join(dir, 'sentinel.conf');
        fs.writeFileSync(conf, [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${name} ${HOST} ${primary.port} 2`,
          `sentinel down-after-milliseconds ${name} ${opts.sentinelDownAfterMs ?? 2000}`,
          `sentinel failover-timeout ${name} ${opts.sentinelFailoverTimeoutMs ?? 6000}`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'));
        return [conf, '--sentinel'];
      }, opts),
    );
  }
  await Promise.all(sentinels.map((s) => s.start()));
  const dataNodes = [primary, replica];

  const masterPort = async (): Promise<number> => {
    for (const s of sentinels.filter((x) => x.isRunning())) {
      try {
        const [, port] = (await s.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
        return Number(port);
      } catch {
        // ask the next sentinel
      }
    }
    throw new Error('no sentinel answers');
  };
  const topology: RedisTopology = {
    ...baseTopology('sentinel', [...dataNodes, ...sentinels], opts),
    env: { REDIS_MODE: 'sentinel', REDIS_SENTINELS: sentinels.map((s) => `${HOST}:${s.port}`).join(','), REDIS_SENTINEL_NAME: name },
    primaryForKey: async () => {
      const port = await masterPort();
      const node = dataNodes.find((n) => n.port === port);
      if (!node) throw new Error(`the sentinels name an unknown master on port ${port}`);
      return node;
    },
    client: () => quiet(new Redis({ sentinels: sentinels.map((s) => ({ host: HOST, port: s.port })), name, maxRetriesPerRequest: 1 })),
    waitHealthy: (ms = timeoutMs) => waitSentinelHealthy(sentinels, dataNodes, name, ms),
  };
  await topology.waitHealthy();
  return topology;
}

/** Every running sentinel names the same master, which is a master, sees every running replica in sync and the other sentinels. */
async function waitSentinelHealthy(sentinels: ManagedNode[], dataNodes: ManagedNode[], name: string, timeoutMs: number): Promise<void> {
  let last = '';
  const asObject = (flat: string[]) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]]] : [])));
  await waitFor('Sentinel topology healthy', async () => {
    const liveSentinels = sentinels.filter((s) => s.isRunning());
    const ports = new Set<number>();
    for (const s of liveSentinels) {
      const [, port] = (await s.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
      ports.add(Number(port));
      const others = (await s.command('SENTINEL', 'SENTINELS', name)) as string[][];
      if (others.length < liveSentinels.length - 1) return (last = `${s.name} knows ${others.length} other sentinels`), false;
      const master = asObject((await s.command('SENTINEL', 'MASTER', name)) as string[]);
      if (master.flags !== 'master') return (last = `${s.name}: master flags ${master.flags}`), false;
      const replicas = ((await s.command('SENTINEL', 'REPLICAS', name)) as string[][]).map(asObject);
      for (const n of dataNodes.filter((d) => d.isRunning() && d.port !== Number(port))) {
        // The sentinel must list it as a healthy replica (a failover candidate); the link itself is read from the
        // replica, which is current, while a sentinel refreshes what it knows of replicas only every 10 s.
        const seen = replicas.find((r) => Number(r.port) === n.port);
        if (seen?.flags !== 'slave') return (last = `${s.name} sees ${n.name} as ${seen?.flags ?? 'nothing'}`), false;
        const info = String(await n.command('INFO', 'replication'));
        if (infoField(info, 'master_link_status') !== 'up' || Number(infoField(info, 'master_port')) !== Number(port)) {
          return (last = `${n.name}: link ${infoField(info, 'master_link_status')} to port ${infoField(info, 'master_port')}`), false;
        }
      }
    }
    if (ports.size !== 1) return (last = `sentinels disagree: ${[...ports].join(', ')}`), false;
    const master = dataNodes.find((n) => ports.has(n.port));
    if (!master?.isRunning() || (await master.role()) !== 'master') return (last = `${master?.name ?? 'unknown'} is not a running master`), false;
    return true;
  }, timeoutMs, 250).catch((err: Error) => {
    throw new Error(`${err.message} (last: ${last})`);
  });
}
