// Which Redis node the chaos scenario kills as "the primary" on a Redis
// Cluster or Sentinel stack, asked of the nodes with redis-cli inside their
// containers (like `make status`): on Sentinel the primary the Sentinels name;
// on a cluster the primary that serves the slot of a room's broadcast channel
// (the sharded adapter's `<prefix>socket.io#/#<room>#`), so the probe's room
// is hurt and its silence times the failover.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chatRoom } from '@switchboard/protocol';
import { parseClusterNodes } from '../../deploy/stack/src/redis-topology';

const run = promisify(execFile);

async function redisCli(container: string, args: string[]): Promise<string> {
  const r = await run('docker', ['exec', container, 'redis-cli', ...args], { timeout: 10_000 });
  return r.stdout.replace(/\r/g, '').trim();
}

async function running(project: string, services: string[]): Promise<{ name: string; service: string }[]> {
  const r = await run('docker', ['ps', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}} {{.Label "com.docker.compose.service"}}']);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, service] = line.split(' ');
      return { name, service };
    })
    .filter((c) => services.includes(c.service));
}

/** Whether `slot` is in a CLUSTER NODES slot list such as "0-5460 10923" (an import/migration entry in brackets is not served). */
export function servesSlot(slots: string | undefined, slot: number): boolean {
  for (const part of (slots ?? '').split(' ')) {
    if (!part || part.startsWith('[')) continue;
    const [a, b] = part.split('-').map(Number);
    if (slot >= a && slot <= (b ?? a)) return true;
  }
  return false;
}

/**
 * The sharded adapter's channel for a chat room's broadcasts (services/realtime/src/gateway: channelPrefix
 * `<REDIS_KEY_PREFIX>socket.io`, the main namespace, the Socket.IO room `chatRoom(room)`).
 */
export const roomChannel = (room: string, keyPrefix = 'sb:') => `${keyPrefix}socket.io#/#${chatRoom(room)}#`;

/** The compose service (redis-1, ...) of the primary to kill; throws with one sentence when no node answers. */
export async function redisPrimary(project: string, mode: 'cluster' | 'sentinel', room: string): Promise<string> {
  if (mode === 'sentinel') {
    for (const s of await running(project, ['sentinel-1', 'sentinel-2', 'sentinel-3'])) {
      const out = await redisCli(s.name, ['-p', '26379', 'sentinel', 'get-master-addr-by-name', process.env.REDIS_SENTINEL_NAME || 'mymaster']).catch(() => '');
      const host = out.split('\n')[0];
      if (/^redis-\d+$/.test(host)) return host;
    }
    throw new Error(`no Sentinel of ${project} named a primary (sentinel get-master-addr-by-name)`);
  }
  const nodes = await running(project, ['redis-1', 'redis-2', 'redis-3', 'redis-4', 'redis-5', 'redis-6']);
  for (const n of nodes) {
    const slot = Number(await redisCli(n.name, ['cluster', 'keyslot', roomChannel(room)]).catch(() => 'NaN'));
    const text = await redisCli(n.name, ['cluster', 'nodes']).catch(() => '');
    if (!Number.isInteger(slot) || !text) continue;
    const owner = parseClusterNodes(text).find((x) => x.role === 'primary' && x.up && servesSlot(x.slots, slot));
    if (owner) return owner.node;
  }
  throw new Error(`no node of ${project}'s Redis Cluster said which primary serves the probe's room`);
}
