import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Socket } from 'socket.io-client';
import { check, formatReport, parseTag, Producer, type Phase, type Report, type Tag } from '@switchboard/loss-checker';
import { chatRoom, type ChatMessage } from '@switchboard/protocol';
import { Keyspace } from '../../src/infra/keys';
import { FAST_PRESENCE, api, connect, emitAck, health, login, startCluster, type Cluster, type Replica } from '../support/cluster';
import { SERVICE_ROOT, sleep, waitFor } from '../support/processes';
import type { RedisNode, TopologyKind } from '../support/redis-topology';

/**
 * Issue 13: the Redis primary that holds a room's keys is SIGKILLed (Sentinel
 * and Cluster) or a slot moves (Cluster reshard) while users on three
 * replicas chat. No replica exits, /health reports the failover, cross-replica
 * delivery comes back by itself, and after history:sync no persisted message
 * is lost or doubled. The measured figures go to the console and to
 * test-results/failover.json (quoted in docs/operations.md).
 */
const TTL_MS = Number(FAST_PRESENCE.PRESENCE_TTL_MS);
const SWEEP_MS = Number(FAST_PRESENCE.PRESENCE_SWEEP_MS);
const SEND_EVERY_MS = 400;
/** Polling granularity of the measurements below. */
const PROBE_EVERY_MS = 100;
/** Slack for polling and scheduling on a loaded 2-core machine. */
const SLACK_MS = 2000;
/** Failover plus slot-map refresh must finish well within this, or the test fails. */
const RECOVERY_TIMEOUT_MS = 60_000;
const RESHARD_SLOTS = 100;
const RESULTS_FILE = path.join(SERVICE_ROOT, 'test-results', 'failover.json');
const keys = new Keyspace('sb:');

/** Nothing lost, doubled or unknown; on failure the checker's per-receiver lines are in the diff. */
function expectClean(report: Report, what: string): void {
  const { lost, duplicated, unexpected } = report.totals;
  expect({ what, lost, duplicated, unexpected, detail: lost + duplicated + unexpected > 0 ? formatReport(report) : '' })
    .toEqual({ what, lost: 0, duplicated: 0, unexpected: 0, detail: '' });
}

jest.setTimeout(300_000);

/** Slow and independent of SB_TEST_REDIS: `make test-failover` runs them once (SB_TEST_FAILOVER=1), test-int skips them. */
const describeFailover = process.env.SB_TEST_FAILOVER === '1' ? describe : describe.skip;

// --- users chatting in one room, two per replica ---------------------------------------

interface Chatter {
  userId: string;
  token: string;
  replica: Replica;
  socket: Socket;
  /** message:new in arrival order, with the arrival time. */
  live: Array<{ message: ChatMessage; at: number }>;
  syncRequired: number;
  disconnects: number;
}

interface SendStats {
  ok: number;
  /** Per phase: the longest time from the first attempt to the ok ack (retries included), in ms. */
  slowestAckMs: Partial<Record<Phase, number>>;
  /** Acks that said UNAVAILABLE, RATE_LIMITED, or timed out; each was retried with the same clientMsgId. */
  retried: Record<string, number>;
}

class ChatTraffic {
  phase: Phase = 'before';
  readonly producers = new Map<string, Producer>();
  /** Tag key -> time of the first attempt, for the kill→delivery measurement. */
  readonly firstAttemptAt = new Map<string, number>();
  readonly stats: SendStats = { ok: 0, slowestAckMs: {}, retried: {} };
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(readonly room: string, readonly chatters: Chatter[]) {}

  /** One producer per replica, each sending one message at a time, resending until it is stored. */
  start(senders: Chatter[]): void {
    this.loops = senders.map((c) => this.produce(c));
    for (const loop of this.loops) loop.catch(() => undefined); // awaited in stop()
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  sent() {
    return [...this.producers.values()].flatMap((p) => p.log);
  }

  private async produce(sender: Chatter): Promise<void> {
    const producer = new Producer(sender.userId);
    this.producers.set(sender.userId, producer);
    while (!this.stopped) {
      const phase = this.phase;
      const tagText = producer.next(phase);
      const startedAt = Date.now();
      this.firstAttemptAt.set(tagKey(producer.log.at(-1)!), startedAt);
      await this.sendUntilStored(sender, `hello ${tagText}`, randomUUID());
      this.stats.slowestAckMs[phase] = Math.max(this.stats.slowestAckMs[phase] ?? 0, Date.now() - startedAt);
      await sleep(SEND_EVERY_MS);
    }
  }

  /** The client recipe: the same clientMsgId until an ok ack, so the server stores it once. */
  private async sendUntilStored(sender: Chatter, text: string, clientMsgId: string): Promise<void> {
    for (;;) {
      let outcome: string;
      let waitMs = 500;
      try {
        const ack = await emitAck(sender.socket, 'message:send', { room: this.room, text, clientMsgId });
        if (ack.ok) {
          this.stats.ok += 1;
          return;
        }
        outcome = ack.error.code;
        if (outcome !== 'UNAVAILABLE' && outcome !== 'RATE_LIMITED') {
          // The replica's error lines say which Redis or database reply it did not expect.
          const errors = sender.replica.proc.output().split('\n').filter((line) => line.includes('"level":50')).slice(-3);
          throw new Error(`message:send on ${sender.replica.name} answered ${JSON.stringify(ack)}\n${errors.join('\n')}`);
        }
        waitMs = ack.error.retryAfterMs ?? waitMs;
      } catch (err) {
        if (!/timed out|timeout/i.test((err as Error).message)) throw err;
        outcome = 'ack timeout';
      }
      this.stats.retried[outcome] = (this.stats.retried[outcome] ?? 0) + 1;
      await sleep(waitMs);
    }
  }
}

const tagKey = (t: Tag) => `${t.producerId}:${t.seq}`;

async function joinChatters(cluster: Cluster, room: string, perReplica: number, prefix: string): Promise<Chatter[]> {
  const chatters: Chatter[] = [];
  for (const replica of cluster.replicas) {
    for (let i = 1; i <= perReplica; i++) {
      const userId = `${prefix}-${replica.name}-${i}`;
      const { token } = await login(replica.url, userId);
      const socket = await connect(replica.url, token, { reconnection: true });
      const chatter: Chatter = { userId, token, replica, socket, live: [], syncRequired: 0, disconnects: 0 };
      socket.on('message:new', (message: ChatMessage) => chatter.live.push({ message, at: Date.now() }));
      socket.on('sync:required', () => (chatter.syncRequired += 1));
      socket.on('disconnect', () => (chatter.disconnects += 1));
      const joined = await emitAck(socket, 'room:join', { room });
      expect(joined).toMatchObject({ ok: true });
      chatters.push(chatter);
    }
  }
  return chatters;
}

/** A first message every chatter has received live: the point their later history:sync starts after. */
async function sendMarker(chatters: Chatter[], room: string): Promise<string> {
  const ack = await emitAck(chatters[0].socket, 'message:send', { room, text: 'marker', clientMsgId: randomUUID() });
  expect(ack).toMatchObject({ ok: true });
  await waitFor('marker everywhere', () => chatters.every((c) => c.live.some((l) => l.message.id === ack.message.id)), 20_000);
  return ack.message.id;
}

async function historyAfter(chatter: Chatter, room: string, after: string): Promise<ChatMessage[]> {
  const out: ChatMessage[] = [];
  let cursor = after;
  for (;;) {
    const ack = await emitAck(chatter.socket, 'history:sync', { room, after: cursor });
    if (!ack.ok) throw new Error(`history:sync answered ${JSON.stringify(ack)}`);
    out.push(...ack.messages);
    if (!ack.hasMore || ack.messages.length === 0) return out;
    cursor = ack.messages.at(-1).id;
  }
}

const tagsOf = (messages: ChatMessage[]) => messages.map((m) => parseTag(m.text)).filter((t): t is Tag => t !== null);

/**
 * The loss checker on three views: what each client holds after history:sync
 * (live deliveries, then the synced ones it lacked, by id: doubles are double
 * deliveries), what history holds (doubles are double stores), and what
 * arrived live in the `after` phase (cross-replica delivery is back by itself).
 */
async function lossReports(traffic: ChatTraffic, marker: string) {
  const sent = traffic.sent();
  const sentAfter = new Set(sent.filter((s) => s.phase === 'after').map(tagKey));
  const client: Record<string, Tag[]> = {};
  const history: Record<string, Tag[]> = {};
  const liveAfter: Record<string, Tag[]> = {};
  for (const c of traffic.chatters) {
    const synced = await historyAfter(c, traffic.room, marker);
    const liveIds = new Set(c.live.map((l) => l.message.id));
    client[c.userId] = tagsOf([...c.live.map((l) => l.message), ...synced.filter((m) => !liveIds.has(m.id))]);
    history[c.userId] = tagsOf(synced);
    liveAfter[c.userId] = tagsOf(c.live.map((l) => l.message)).filter((t) => sentAfter.has(tagKey(t)));
  }
  return {
    client: check({ sent, received: client }),
    history: check({ sent, received: history }),
    liveAfter: check({ sent, received: liveAfter, expects: (_r, s) => s.phase === 'after' }),
  };
}

/**
 * What arrived live (without any sync) of the messages sent in one phase,
 * split by whether sender and receiver share a replica: during a Redis
 * outage, delivery on the sender's own replica goes on while cross-replica
 * delivery waits for Redis.
 */
function liveDelivery(traffic: ChatTraffic, phase: Phase) {
  const replicaOf = new Map(traffic.chatters.map((c) => [c.userId, c.replica.name]));
  const sent = traffic.sent().filter((s) => s.phase === phase);
  const tally = { sameReplica: { expected: 0, received: 0 }, crossReplica: { expected: 0, received: 0 } };
  for (const c of traffic.chatters) {
    const got = new Set(tagsOf(c.live.map((l) => l.message)).map(tagKey));
    for (const s of sent) {
      const bucket = replicaOf.get(s.producerId) === c.replica.name ? tally.sameReplica : tally.crossReplica;
      bucket.expected += 1;
      if (got.has(tagKey(s))) bucket.received += 1;
    }
  }
  return tally;
}

/** Every client that missed a broadcast live got sync:required: without it, it learns of the gap only at its next reconnect. */
function expectToldToSync(traffic: ChatTraffic): void {
  const missedLive = (c: Chatter) => {
    const got = new Set(tagsOf(c.live.map((l) => l.message)).map(tagKey));
    return traffic.sent().filter((s) => !got.has(tagKey(s))).length;
  };
  expect(traffic.chatters.filter((c) => missedLive(c) > 0 && c.syncRequired === 0).map((c) => `${c.userId} missed ${missedLive(c)} live, got no sync:required`)).toEqual([]);
}

/** Polls /health of every replica and keeps each one's status changes. */
class HealthWatch {
  readonly changes = new Map<string, Array<{ at: number; status: string }>>();
  private stopped = false;
  private loop: Promise<void>;

  constructor(replicas: Replica[]) {
    for (const r of replicas) this.changes.set(r.name, []);
    this.loop = (async () => {
      while (!this.stopped) {
        await Promise.all(replicas.map(async (r) => {
          const status = await health(r.url).then((h) => String(h.body.status), (err: Error) => `unreachable: ${err.message}`);
          const log = this.changes.get(r.name)!;
          if (log.at(-1)?.status !== status) log.push({ at: Date.now(), status });
        }));
        await sleep(PROBE_EVERY_MS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Per replica: ms after `since` at which it first said degraded, and at which it said ok again (last time). */
  windows(since: number): Record<string, { degradedFromMs: number | null; okAgainMs: number | null }> {
    return Object.fromEntries([...this.changes].map(([name, log]) => {
      const later = log.filter((c) => c.at >= since);
      const degraded = later.find((c) => c.status === 'degraded');
      const okAgain = degraded ? later.filter((c) => c.at > degraded.at && c.status === 'ok').at(-1) : undefined;
      return [name, { degradedFromMs: degraded ? degraded.at - since : null, okAgainMs: okAgain ? okAgain.at - since : null }];
    }));
  }

  unreachable(): string[] {
    return [...this.changes].flatMap(([name, log]) => log.filter((c) => c.status.startsWith('unreachable')).map((c) => `${name}: ${c.status}`));
  }
}

/** The first live message:new, sent after `since`, that crossed replicas (accepted by one, received on another). */
function firstCrossReplicaDelivery(traffic: ChatTraffic, since: number): number | undefined {
  let first: number | undefined;
  for (const c of traffic.chatters) {
    for (const { message, at } of c.live) {
      const tagged = parseTag(message.text);
      const attempted = tagged && traffic.firstAttemptAt.get(tagKey(tagged));
      if (!attempted || attempted < since || message.instance === c.replica.name) continue;
      if (first === undefined || at < first) first = at;
    }
  }
  return first;
}

async function presenceWhole(cluster: Cluster, chatters: Chatter[]): Promise<boolean> {
  for (const r of cluster.replicas) {
    const chatter = chatters.find((c) => c.replica === r)!;
    const res = await api(r.url, '/api/presence', chatter.token);
    if (!res.body.ok || res.body.degraded) return false;
    const online = new Set(res.body.users.map((u: { userId: string }) => u.userId));
    if (!chatters.every((c) => online.has(c.userId))) return false;
  }
  return true;
}

function saveResult(name: string, result: unknown): void {
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  const all = fs.existsSync(RESULTS_FILE) ? JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8')) : {};
  all[name] = { ...(result as object), measuredAt: new Date().toISOString() };
  fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(all, null, 2)}\n`);
}

/** The Redis names a chat room uses that decide delivery: its members key and its adapter channel. */
function roomRedisNames(room: string): string[] {
  // The sharded adapter's "dynamic" channel of one Socket.IO room: <prefix>#<namespace>#<room>#.
  return [keys.tagged('room', room, 'members'), `sb:socket.io#/#${chatRoom(room)}#`];
}

// --- the tests ------------------------------------------------------------------------

function failoverSuite(kind: Exclude<TopologyKind, 'single'>) {
  describeFailover(`Redis ${kind} failover under traffic`, () => {
    let cluster: Cluster;
    const previous = process.env.SB_TEST_REDIS;

    beforeAll(async () => {
      // These tests choose their topology; they do not follow the run's SB_TEST_REDIS.
      process.env.SB_TEST_REDIS = kind;
      cluster = await startCluster({ replicas: 3, env: { ...FAST_PRESENCE, RATE_LIMIT_MESSAGES: '100/10s', LOG_LEVEL: 'warn' } });
    });

    afterAll(async () => {
      await cluster?.stop();
      if (previous === undefined) delete process.env.SB_TEST_REDIS;
      else process.env.SB_TEST_REDIS = previous;
    });

    it('SIGKILL of the primary holding the room: no replica exits, delivery resumes, nothing lost or doubled', async () => {
      const room = await roomOnOnePrimary(cluster, 'failover');
      const chatters = await joinChatters(cluster, room, 2, `fo-${kind}`);
      const marker = await sendMarker(chatters, room);
      const traffic = new ChatTraffic(room, chatters);
      traffic.start(cluster.replicas.map((r) => chatters.find((c) => c.replica === r)!));
      const watch = new HealthWatch(cluster.replicas);
      try {
        await sleep(3000);
        const victim = await cluster.redis.primaryForKey(roomRedisNames(room)[1]);
        traffic.phase = 'during';
        const killedAt = Date.now();
        await victim.kill('SIGKILL');
        console.log(`[failover] ${kind}: SIGKILLed ${victim.name} (port ${victim.port}), the primary of room ${room}`);

        const successor = await newPrimary(cluster, roomRedisNames(room)[1], victim);
        const promotedMs = Date.now() - killedAt;
        const firstDelivery = await waitFor('cross-replica delivery after the kill', () => firstCrossReplicaDelivery(traffic, killedAt), RECOVERY_TIMEOUT_MS, PROBE_EVERY_MS);
        await waitFor('every replica /health ok again', async () => (await Promise.all(cluster.replicas.map((r) => health(r.url)))).every((h) => h.body.status === 'ok'), RECOVERY_TIMEOUT_MS, PROBE_EVERY_MS);
        const recoveredAt = Date.now();
        await waitFor('presence whole again', () => presenceWhole(cluster, chatters), TTL_MS + SWEEP_MS + SLACK_MS, PROBE_EVERY_MS);
        const presenceWholeMs = Date.now() - recoveredAt;
        // Only now do new messages count as "after": delivery must then be live again, without any sync.
        traffic.phase = 'after';
        await sleep(4000);
        await traffic.stop();
        await watch.stop();

        for (const r of cluster.replicas) expect({ replica: r.name, exitCode: r.proc.child.exitCode, signal: r.proc.child.signalCode }).toEqual({ replica: r.name, exitCode: null, signal: null });
        expect(watch.unreachable()).toEqual([]);
        const windows = watch.windows(killedAt);
        // Every replica reported the failover on /health, and is ok again.
        for (const [name, w] of Object.entries(windows)) {
          expect({ name, degradedSeen: w.degradedFromMs !== null, okAgain: w.okAgainMs !== null }).toEqual({ name, degradedSeen: true, okAgain: true });
        }

        const reports = await lossReports(traffic, marker);
        const result = {
          topology: kind,
          killed: victim.name,
          promoted: successor.name,
          promotedMs,
          firstCrossReplicaDeliveryMs: firstDelivery - killedAt,
          health: windows,
          presenceWholeAfterRecoveryMs: presenceWholeMs,
          sends: traffic.stats,
          syncRequired: Object.fromEntries(chatters.map((c) => [c.userId, c.syncRequired])),
          clientDisconnects: chatters.reduce((n, c) => n + c.disconnects, 0),
          liveDuringFailover: liveDelivery(traffic, 'during'),
          loss: { client: reports.client.totals, history: reports.history.totals, liveAfterRecovery: reports.liveAfter.totals },
          messagesSent: traffic.sent().length,
        };
        console.log(`[failover] ${kind}: kill -> first cross-replica delivery ${result.firstCrossReplicaDeliveryMs} ms (promotion seen after ${promotedMs} ms)\n${JSON.stringify(result, null, 2)}`);
        saveResult(`${kind}-failover`, result);

        expect(reports.client.receivers.every((r) => r.phases.during.sent > 0)).toBe(true);
        expectClean(reports.client, 'what clients hold after history:sync');
        expectClean(reports.history, 'history');
        expectClean(reports.liveAfter, 'live deliveries after recovery');
        expect(result.clientDisconnects).toBe(0);
        expectToldToSync(traffic);

        // The old primary comes back as a replica of its successor; the service does not notice.
        await victim.start();
        await cluster.redis.waitHealthy();
        expect(await victim.role()).toBe('replica');
        for (const r of cluster.replicas) expect((await health(r.url)).body.status).toBe('ok');
      } finally {
        await traffic.stop();
        await watch.stop();
        for (const c of chatters) c.socket.close();
      }
    });

    if (kind !== 'cluster') return;

    it(`moves ${RESHARD_SLOTS} slots, among them the room's, with redis-cli --cluster reshard while users chat: nothing lost or doubled`, async () => {
      const { room, from, to, slots } = await roomInLowestSlots(cluster, 'reshard');
      const chatters = await joinChatters(cluster, room, 2, 'rs');
      const marker = await sendMarker(chatters, room);
      const traffic = new ChatTraffic(room, chatters);
      traffic.start(cluster.replicas.map((r) => chatters.find((c) => c.replica === r)!));
      try {
        await sleep(3000);
        traffic.phase = 'during';
        const startedAt = Date.now();
        const [seed, fromId, toId] = [cluster.redis.nodes[0], await from.clusterId(), await to.clusterId()];
        await cluster.redis.redisCli(['--cluster', 'reshard', `127.0.0.1:${seed.port}`, '--cluster-from', fromId, '--cluster-to', toId, '--cluster-slots', String(RESHARD_SLOTS), '--cluster-yes'], RECOVERY_TIMEOUT_MS * 2);
        const reshardMs = Date.now() - startedAt;
        // The node we ask may learn the new owner by gossip a moment after redis-cli returns.
        for (const name of roomRedisNames(room)) {
          await waitFor(`${name} owned by ${to.name}`, async () => (await cluster.redis.primaryForKey(name)).name === to.name, 10_000, 100).catch(() => undefined);
          expect((await cluster.redis.primaryForKey(name)).name).toBe(to.name);
        }
        console.log(`[failover] cluster: moved ${RESHARD_SLOTS} slots (room slots ${slots.join(', ')}) from ${from.name} to ${to.name} in ${reshardMs} ms`);
        // Messages sent just after the move still count as "during": the replicas learn the new slot map from a MOVED reply or a refresh.
        await sleep(3000);
        traffic.phase = 'after';
        await sleep(4000);
        await traffic.stop();

        for (const r of cluster.replicas) expect(r.proc.child.exitCode).toBeNull();
        const reports = await lossReports(traffic, marker);
        const result = {
          topology: 'cluster',
          movedSlots: RESHARD_SLOTS,
          reshardMs,
          sends: traffic.stats,
          syncRequired: Object.fromEntries(chatters.map((c) => [c.userId, c.syncRequired])),
          liveDuringReshard: liveDelivery(traffic, 'during'),
          liveAfterReshard: liveDelivery(traffic, 'after'),
          loss: { client: reports.client.totals, history: reports.history.totals, liveAfterReshard: reports.liveAfter.totals },
          messagesSent: traffic.sent().length,
        };
        console.log(`[failover] cluster reshard: ${JSON.stringify(result, null, 2)}`);
        saveResult('cluster-reshard', result);

        expect(reports.client.receivers.every((r) => r.phases.during.sent > 0)).toBe(true);
        expectClean(reports.client, 'what clients hold after history:sync');
        expectClean(reports.history, 'history');
        expectClean(reports.liveAfter, 'live deliveries after recovery');
        expectToldToSync(traffic);
      } finally {
        await traffic.stop();
        for (const c of chatters) c.socket.close();
      }
    });
  });
}

failoverSuite('sentinel');
failoverSuite('cluster');

// --- choosing rooms by where their keys live ----------------------------------------------

async function newPrimary(cluster: Cluster, key: string, old: RedisNode): Promise<RedisNode> {
  return waitFor(`a primary other than ${old.name} for ${key}`, async () => {
    const now = await cluster.redis.primaryForKey(key).catch(() => undefined);
    return now && now !== old && (await now.role()) === 'master' ? now : undefined;
  }, RECOVERY_TIMEOUT_MS, PROBE_EVERY_MS);
}

/** A room whose members key and adapter channel live on the same primary, so one kill hits both (always so off a cluster). */
async function roomOnOnePrimary(cluster: Cluster, prefix: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const room = `${prefix}-${randomUUID().slice(0, 8)}`;
    const [a, b] = await Promise.all(roomRedisNames(room).map((n) => cluster.redis.primaryForKey(n)));
    if (a === b) return room;
  }
  throw new Error('no room name found whose keys share a primary');
}

/**
 * A room whose members key and channel are both among the lowest RESHARD_SLOTS
 * slots of one primary: `redis-cli --cluster reshard --cluster-from` moves a
 * source's slots lowest first, so these are the ones that move.
 */
async function roomInLowestSlots(cluster: Cluster, prefix: string): Promise<{ room: string; from: RedisNode; to: RedisNode; slots: number[] }> {
  const seed = cluster.redis.nodes.find((n) => n.isRunning())!;
  const probe = new Redis({ host: '127.0.0.1', port: seed.port, lazyConnect: true });
  await probe.connect();
  try {
    const ranges = (await probe.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
    const lowest = new Map<number, number>(); // primary port -> its lowest slot
    for (const [start, , [, port]] of ranges) lowest.set(port, Math.min(start, lowest.get(port) ?? Infinity));
    const moving = (slot: number) => [...lowest].find(([port]) => ranges.some(([s, e, [, p]]) => p === port && slot >= s && slot <= e && slot < lowest.get(port)! + RESHARD_SLOTS))?.[0];
    for (let round = 0; round < 20; round++) {
      const rooms = Array.from({ length: 5000 }, () => `${prefix}-${randomUUID().slice(0, 8)}`);
      const pipeline = probe.pipeline();
      for (const room of rooms) for (const name of roomRedisNames(room)) pipeline.call('CLUSTER', 'KEYSLOT', name);
      const slots = (await pipeline.exec())!.map(([err, slot]) => (err ? -1 : Number(slot)));
      for (let i = 0; i < rooms.length; i++) {
        const [a, b] = [slots[2 * i], slots[2 * i + 1]];
        const port = moving(a);
        if (port === undefined || moving(b) !== port) continue;
        const from = cluster.redis.nodes.find((n) => n.port === port)!;
        const to = cluster.redis.nodes.find((n) => n !== from && lowest.has(n.port))!;
        return { room: rooms[i], from, to, slots: [a, b] };
      }
    }
    throw new Error(`no room name found whose keys are in the lowest ${RESHARD_SLOTS} slots of one primary`);
  } finally {
    probe.disconnect();
  }
}
