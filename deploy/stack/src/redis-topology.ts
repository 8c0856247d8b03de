// What `make status` says about Redis: which node is primary, which are
// replicas of which, and which are down. Asked of the nodes themselves with
// redis-cli inside their containers (no port is published):
// cluster: CLUSTER NODES of the first node that answers (it also lists the
// failed ones); sentinel: SENTINEL get-master-addr-by-name of the first
// Sentinel that answers, and each node's INFO replication; single: the one.
import { listContainers, type ContainerInfo } from './compose';
import { exec } from './exec';
import { REDIS_NODES, SENTINELS, type RedisMode } from './redis-mode';

export interface RedisNodeStatus {
  node: string;
  role: 'primary' | 'replica' | 'unknown';
  /** Reachable and serving, as the topology sees it. */
  up: boolean;
  /** Replicas: the primary they copy. */
  primaryNode?: string;
  /** Cluster primaries: their hash slots, e.g. "0-5460". */
  slots?: string;
}

export interface RedisTopology {
  mode: RedisMode;
  /** The primaries serving now (one outside a cluster); empty when none is known. */
  primaries: string[];
  nodes: RedisNodeStatus[];
  /** Sentinel: the Sentinels that answer. */
  sentinelsUp?: string[];
  /** Why the picture is incomplete, in one sentence. */
  problem?: string;
}

/** One line on the topology, for `up`'s progress and summary. */
export function describeRedis(mode: RedisMode): string {
  const range = (names: string[]) => `${names[0]}..${names[names.length - 1]}`;
  if (mode === 'cluster') return `a Redis Cluster of ${range(REDIS_NODES.cluster)} (3 primaries, 3 replicas)`;
  if (mode === 'sentinel') return `Redis ${REDIS_NODES.sentinel.join(' (primary) and ')} (replica) with ${range(SENTINELS)}`;
  return 'one Redis';
}

const SENTINEL_NAME = process.env.REDIS_SENTINEL_NAME || 'mymaster';

async function redisCli(container: string, args: string[]): Promise<string | undefined> {
  const r = await exec('docker', ['exec', container, 'redis-cli', ...args], { timeoutMs: 5000 });
  const out = r.stdout.replace(/\r/g, '').trim();
  // redis-cli exits 0 on server errors too ("Could not connect", "ERR ...").
  return r.code === 0 && out && !/^(ERR|Could not connect)/.test(out) ? out : undefined;
}

/** One CLUSTER NODES line: `<id> <ip:port@bus[,hostname]> <flags> <primary id|-> <ping> <pong> <epoch> <link> [slots...]`. */
export function parseClusterNodes(text: string): RedisNodeStatus[] {
  const rows = text.split('\n').filter(Boolean).map((line) => {
    const [id, addr, flags, primaryId, , , , link, ...slots] = line.split(' ');
    const name = addr.split(',')[1] || addr.split('@')[0];
    return { id, name, flags: flags.split(','), primaryId, link, slots: slots.join(' ') };
  });
  const nameOf = (id: string) => rows.find((r) => r.id === id)?.name;
  return rows
    .map((r) => ({
      node: r.name,
      role: r.flags.includes('master') ? ('primary' as const) : r.flags.includes('slave') ? ('replica' as const) : ('unknown' as const),
      up: !r.flags.includes('fail') && !r.flags.includes('fail?') && (r.flags.includes('myself') || r.link === 'connected'),
      ...(r.flags.includes('slave') ? { primaryNode: nameOf(r.primaryId) } : {}),
      ...(r.slots ? { slots: r.slots } : {}),
    }))
    .sort((a, b) => a.node.localeCompare(b.node, undefined, { numeric: true }));
}

const running = (containers: ContainerInfo[], service: string) => containers.find((c) => c.service === service && c.state === 'running');

async function clusterTopology(containers: ContainerInfo[]): Promise<RedisTopology> {
  for (const service of REDIS_NODES.cluster) {
    const c = running(containers, service);
    const text = c && (await redisCli(c.name, ['cluster', 'nodes']));
    if (!text) continue;
    const nodes = parseClusterNodes(text);
    const primaries = nodes.filter((n) => n.role === 'primary' && n.up && n.slots).map((n) => n.node);
    const problem = nodes.length < REDIS_NODES.cluster.length ? `the cluster knows ${nodes.length} of ${REDIS_NODES.cluster.length} nodes: is it formed (make logs shows redis-cluster-init)?` : undefined;
    return { mode: 'cluster', primaries, nodes, ...(problem ? { problem } : {}) };
  }
  return { mode: 'cluster', primaries: [], nodes: [], problem: 'no Redis node answers CLUSTER NODES.' };
}

async function replicationRole(container: string): Promise<Pick<RedisNodeStatus, 'role' | 'primaryNode'> | undefined> {
  const text = await redisCli(container, ['info', 'replication']);
  const field = (name: string) => text && new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1];
  const role = field('role');
  if (role === 'master') return { role: 'primary' };
  if (role === 'slave') return { role: 'replica', primaryNode: field('master_host') || undefined };
  return undefined;
}

async function sentinelTopology(containers: ContainerInfo[]): Promise<RedisTopology> {
  const sentinelsUp: string[] = [];
  let primary: string | undefined;
  for (const service of SENTINELS) {
    const c = running(containers, service);
    const addr = c && (await redisCli(c.name, ['-p', '26379', 'sentinel', 'get-master-addr-by-name', SENTINEL_NAME]));
    if (!addr) continue;
    sentinelsUp.push(service);
    primary ??= addr.split('\n')[0];
  }
  const nodes: RedisNodeStatus[] = [];
  for (const service of REDIS_NODES.sentinel) {
    const c = running(containers, service);
    const seen = c && (await replicationRole(c.name));
    nodes.push(seen ? { node: service, up: true, ...seen } : { node: service, role: service === primary ? 'primary' : 'unknown', up: false });
  }
  const problem = !primary ? `no Sentinel knows a primary for "${SENTINEL_NAME}".` : undefined;
  return { mode: 'sentinel', primaries: primary ? [primary] : [], nodes, sentinelsUp, ...(problem ? { problem } : {}) };
}

export async function redisTopology(mode: RedisMode, containers?: ContainerInfo[]): Promise<RedisTopology> {
  const all = containers ?? (await listContainers());
  if (mode === 'cluster') return clusterTopology(all);
  if (mode === 'sentinel') return sentinelTopology(all);
  const c = running(all, 'redis');
  const up = !!(c && (await redisCli(c.name, ['ping'])));
  return { mode, primaries: up ? ['redis'] : [], nodes: [{ node: 'redis', role: 'primary', up }] };
}

/** The topology as lines for a terminal. */
export function formatTopology(t: RedisTopology): string[] {
  const lines = [`Redis: ${t.mode}, primary: ${t.primaries.join(', ') || 'none'}${t.sentinelsUp ? `; Sentinels answering: ${t.sentinelsUp.join(', ') || 'none'}` : ''}`];
  const width = Math.max(0, ...t.nodes.map((n) => n.node.length));
  for (const n of t.nodes) {
    const detail = [n.role, n.primaryNode ? `of ${n.primaryNode}` : '', n.slots ? `slots ${n.slots}` : '', n.up ? '' : 'DOWN'].filter(Boolean).join(' ');
    lines.push(`  ${n.node.padEnd(width)}  ${detail}`);
  }
  if (t.problem) lines.push(`  (${t.problem})`);
  return lines;
}
