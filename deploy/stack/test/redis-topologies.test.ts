// The stack on a Redis Cluster and on Redis with Sentinel (make up
// REDIS=cluster|sentinel), each in its own compose project on a free port:
// chat crosses replicas through nginx; killing the primary the room's
// messages go through is survived without restarting a replica (the clients
// stay connected and chat again once a replica was promoted); the old primary
// comes back as a replica. Every project is torn down, also after a failure.
import type { Socket } from 'socket.io-client';
import { run, sendAndCollect, TestStack } from './support/stack';

interface RedisNodeStatus {
  node: string;
  role: string;
  up: boolean;
  primaryNode?: string;
  slots?: string;
}
interface StatusDoc {
  project: string;
  containers: { service: string; replica: string; state: string; health: string }[];
  redis: { mode: string; primaries: string[]; nodes: RedisNodeStatus[]; sentinelsUp?: string[]; problem?: string };
}

const topologies = [
  { mode: 'cluster', nodes: ['redis-1', 'redis-2', 'redis-3', 'redis-4', 'redis-5', 'redis-6'], primaries: 3 },
  { mode: 'sentinel', nodes: ['redis-1', 'redis-2'], primaries: 1 },
] as const;

// Generous: two cores shared with other work; a failover itself takes seconds.
const FAILOVER_BUDGET_MS = 90_000;

/** Each replica's container id, start time and restart count: equal before and after means nothing restarted. */
async function replicaStarts(stack: TestStack): Promise<string> {
  const ids = (await run('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${stack.project}`, '--filter', 'label=com.docker.compose.service=realtime'])).split('\n').filter(Boolean);
  expect(ids.length).toBeGreaterThan(0);
  return run('docker', ['inspect', '--format', '{{.Name}} {{.State.StartedAt}} {{.RestartCount}}', ...ids]);
}

/**
 * A room whose messages go through redis-1: on a cluster the sharded adapter
 * publishes a room's broadcasts on `<REDIS_KEY_PREFIX>socket.io#/#room:<name>#`
 * (default prefix `sb:`), and that channel's hash slot must be one redis-1 serves.
 */
async function roomOnRedis1(stack: TestStack, slots: string | undefined): Promise<string> {
  if (!slots) return 'failover';
  const ranges = slots.split(' ').map((r) => r.split('-').map(Number));
  for (let i = 0; i < 50; i++) {
    const room = `failover-${i}`;
    const slot = Number(await run('docker', ['exec', `${stack.project}-redis-1-1`, 'redis-cli', 'cluster', 'keyslot', `sb:socket.io#/#room:${room}#`]));
    if (ranges.some(([from, to = from]) => slot >= from && slot <= to)) return room;
  }
  throw new Error('no room name among 50 hashes to a slot of redis-1');
}

describe.each(topologies)('the stack on REDIS=$mode', ({ mode, nodes, primaries }) => {
  const stack = new TestStack(`sbredis${mode}${process.pid}`);
  let alice: Socket;
  let bob: Socket;
  let room = '';
  let replicas: { alice: string; bob: string };
  const disconnects: string[] = [];

  beforeAll(async () => {
    await stack.choosePort();
    const started = Date.now();
    await stack.mustCli('up', '--replicas', '2', '--redis', mode);
    console.log(`[${mode}] make up REDIS=${mode}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 20 * 60_000);

  afterAll(async () => {
    stack.disconnectAll();
    // Always tear down, also after a failure; the last test asserts it worked.
    await stack.cli('down', '--volumes');
  }, 5 * 60_000);

  test('status shows the topology with redis-1 as a primary', async () => {
    const doc = await stack.status<StatusDoc>();
    const running = doc.containers.filter((c) => c.state === 'running').map((c) => c.replica);
    expect(running).toEqual(expect.arrayContaining([...nodes, 'realtime-1', 'realtime-2', 'nginx-1', 'mongo-1']));
    expect(running).not.toContain('redis-1-1');
    expect(doc.redis.mode).toBe(mode);
    expect(doc.redis.problem).toBeUndefined();
    expect(doc.redis.nodes.map((n) => n.node).sort()).toEqual([...nodes]);
    expect(doc.redis.nodes.every((n) => n.up)).toBe(true);
    expect(doc.redis.primaries).toHaveLength(primaries);
    expect(doc.redis.primaries).toContain('redis-1');
    if (mode === 'sentinel') expect(doc.redis.sentinelsUp).toEqual(['sentinel-1', 'sentinel-2', 'sentinel-3']);
    room = await roomOnRedis1(stack, doc.redis.nodes.find((n) => n.node === 'redis-1')?.slots);
  });

  test('a wrong target or another topology is refused in one sentence', async () => {
    const bare = await stack.cli('kill', '--target', 'redis');
    expect(bare.code).toBe(1);
    expect(bare.output).toMatch(/ERROR: Project "\S+" runs Redis in \w+ mode: name a node, TARGET=redis-1\.\./);
    const other = mode === 'cluster' ? 'sentinel' : 'cluster';
    const switched = await stack.cli('up', '--redis', other);
    expect(switched.code).toBe(1);
    expect(switched.output).toContain(`runs Redis in ${mode} mode: run make down first, then make up REDIS=${other}.`);
  });

  test('a message crosses replicas through nginx exactly once', async () => {
    const [a, b] = await stack.cidsOnTwoReplicas(`${mode}-chat`);
    replicas = { alice: a.replica, bob: b.replica };
    alice = await stack.connect(await stack.login(`${mode}-alice`), a.cid);
    bob = await stack.connect(await stack.login(`${mode}-bob`), b.cid);
    for (const [name, s] of [['alice', alice], ['bob', bob]] as const) s.on('disconnect', (reason) => disconnects.push(`${name}: ${reason}`));
    for (const s of [alice, bob]) expect(await s.timeout(10_000).emitWithAck('room:join', { room })).toMatchObject({ ok: true, room });
    const got = await sendAndCollect(alice, bob, room, 'hello across replicas');
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ room, text: 'hello across replicas', instance: replicas.alice });
  });

  test('killing primary redis-1: a replica is promoted and chat works again without restarting a replica', async () => {
    const before = await replicaStarts(stack);
    await stack.mustCli('kill', '--target', 'redis-1');
    const killed = Date.now();
    // Each replica re-issues its sharded subscriptions on the promoted primary on its own, so
    // both directions are tried until each has delivered once, on the sockets opened before.
    const directions = [
      { from: bob, to: alice, sender: replicas.bob, delivered: false, attempts: 0, lastError: '' },
      { from: alice, to: bob, sender: replicas.alice, delivered: false, attempts: 0, lastError: '' },
    ];
    for (const direction of directions) {
      while (!direction.delivered && Date.now() - killed < FAILOVER_BUDGET_MS) {
        direction.attempts++;
        try {
          const got = await sendAndCollect(direction.from, direction.to, room, `after the failover ${direction.attempts}`, 3000);
          direction.delivered = got.length === 1 && got[0].instance === direction.sender;
          if (!direction.delivered) direction.lastError = `received ${got.length} copies`;
        } catch (err) {
          direction.lastError = (err as Error).message;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      const elapsed = Date.now() - killed;
      console.log(`[${mode}] kill redis-1 -> delivered from ${direction.sender}: ${(elapsed / 1000).toFixed(1)} s (${direction.attempts} attempts)`);
    }
    expect(directions.map(({ sender, delivered, lastError }) => ({ sender, delivered, lastError: delivered ? '' : lastError }))).toEqual(
      directions.map(({ sender }) => ({ sender, delivered: true, lastError: '' })),
    );
    expect(disconnects).toEqual([]);
    expect(await replicaStarts(stack)).toBe(before);

    const doc = await stack.status<StatusDoc>();
    expect(doc.redis.primaries).toHaveLength(primaries);
    expect(doc.redis.primaries).not.toContain('redis-1');
    expect(doc.redis.nodes.find((n) => n.node === 'redis-1')).toMatchObject({ up: false });
  });

  test('redis-1 started again rejoins as a replica', async () => {
    await stack.mustCli('start', '--target', 'redis-1');
    const deadline = Date.now() + 60_000;
    let node: RedisNodeStatus | undefined;
    // Sentinel converts the returning primary after it sees it (a few seconds); a cluster node rejoins at once.
    while (Date.now() < deadline) {
      node = (await stack.status<StatusDoc>()).redis.nodes.find((n) => n.node === 'redis-1');
      if (node?.up && node.role === 'replica') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(node).toMatchObject({ up: true, role: 'replica' });
    expect(await sendAndCollect(alice, bob, room, 'with redis-1 back')).toHaveLength(1);
  });

  test('down leaves no container of the project behind', async () => {
    stack.disconnectAll();
    await stack.mustCli('down', '--volumes');
    expect(await stack.containersLeft()).toBe('');
  });
});
