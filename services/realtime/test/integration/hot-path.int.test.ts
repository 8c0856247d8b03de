import type { Socket } from 'socket.io-client';
import { TEST_REDIS, api, collect, connect, emitAck, login, startCluster, type Cluster } from '../support/cluster';
import { sleep, waitFor } from '../support/processes';
import { watchCommands, type SeenCommand } from '../support/redis-commands';

const metricSum = async (cluster: Cluster, name: string, labels = '') => {
  let sum = 0;
  for (const r of cluster.replicas) {
    const text = await (await fetch(`${r.metricsUrl}/metrics`)).text();
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
};

describe('the hot path of a send', () => {
  let cluster: Cluster;
  const sockets: Socket[] = [];
  const open = async (replica: number, userId: string, room: string) => {
    const url = cluster.replicas[replica].url;
    const s = await connect(url, (await login(url, userId)).token);
    sockets.push(s);
    expect(await emitAck(s, 'room:join', { room })).toMatchObject({ ok: true });
    return s;
  };

  beforeAll(async () => {
    // No maintenance job during a measurement: its commands would share the command connection's name.
    cluster = await startCluster({ replicas: 3, env: { CLEANUP_INTERVAL_MS: '3600000', WARMUP_INTERVAL_MS: '3600000' } });
    // Every replica bumped the window generation as it connected; each re-reads it every second.
    await sleep(1500);
  });

  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('sends Redis one command before the broadcast: the window script, which also takes the reminders the message answers', async () => {
    const sender = await open(0, 'hot-sender', 'hot');
    const reader = await open(1, 'hot-reader', 'hot');
    const got = collect(reader, 'message:new');
    // The first send asks Redis for its rate limit (and gets a spare); a second later the sender holds one.
    expect(await emitAck(sender, 'message:send', { room: 'hot', text: 'warm-up', clientMsgId: 'hot-0' })).toMatchObject({ ok: true });
    await sleep(1500);

    const watch = await watchCommands(cluster);
    let commands: SeenCommand[];
    try {
      expect(await emitAck(sender, 'message:send', { room: 'hot', text: 'measured', clientMsgId: 'hot-1' })).toMatchObject({ ok: true });
      await waitFor('broadcast', () => got.some((m) => m.text === 'measured'));
      await sleep(100);
    } finally {
      commands = await watch.stop();
    }
    // A cluster's health probe (PING, CLUSTER INFO) also uses the command connection, every second.
    const sent = commands.filter((c) => c.client === 'sb-command' && !['ping', 'cluster', 'info'].includes(c.name));
    // EVALSHA <sha> <number of keys> <keys...>: the window, the reminders it takes, the room's conversation state it counts in.
    expect(sent.map((c) => `${c.name} ${c.args.slice(1, 5).join(' ')}`)).toEqual(['evalsha 3 sb:{room:hot}:recent sb:{room:hot}:reminders:hot-sender sb:{room:hot}:state']);
    // The message's broadcast (the conversations' once-a-second note of touched rooms to the other replicas may fall in the window too).
    const published = commands.filter((c) => c.client === 'sb-pub' && c.args.some((a) => a.includes('room:hot')));
    expect(published.map((c) => c.name)).toEqual([TEST_REDIS === 'cluster' ? 'spublish' : 'publish']);
  });

  it("serves a new room's history from its first message on, without reading the database", async () => {
    const sender = await open(0, 'opener', 'brand-new');
    const watcher = await open(2, 'follower', 'brand-new');
    // Before the first message: an add to a window that is not trusted queues a fill at once.
    const fillsBefore = await metricSum(cluster, 'sb_history_window_filled_rooms_total');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await emitAck(sender, 'message:send', { room: 'brand-new', text: `n${i}`, clientMsgId: `bn-${i}` })).message.id);
    // A member who has no socket in the room: over HTTP, from another replica.
    const reader = await open(1, 'reader-of-new', 'brand-new');
    reader.close();
    const { token } = await login(cluster.replicas[1].url, 'reader-of-new');
    const page = await api(cluster.replicas[1].url, '/api/rooms/brand-new/messages?limit=10', token);
    expect(page.body.messages.map((m: { id: string }) => m.id)).toEqual([...ids].reverse());
    const sync = await emitAck(watcher, 'history:sync', { room: 'brand-new', after: ids[0] });
    expect(sync.messages.map((m: { id: string }) => m.id)).toEqual(ids.slice(1));
    expect(await metricSum(cluster, 'sb_history_window_filled_rooms_total')).toBe(fillsBefore);
  });

  it("answers a room's history before its first message without reading the messages", async () => {
    const member = await open(0, 'early-member', 'still-empty');
    const { token } = await login(cluster.replicas[0].url, 'early-member');
    const fillsBefore = await metricSum(cluster, 'sb_history_window_filled_rooms_total');
    const empty = await api(cluster.replicas[0].url, '/api/rooms/still-empty/messages?limit=10', token);
    expect(empty.status).toBe(200);
    expect(empty.body.messages).toEqual([]);
    expect((await emitAck(member, 'history:sync', { room: 'still-empty' })).messages).toEqual([]);
    // The window it left is complete: the first message is served from it, on another replica too.
    const sender = await open(1, 'first-speaker', 'still-empty');
    const { message } = await emitAck(sender, 'message:send', { room: 'still-empty', text: 'first', clientMsgId: 'se-1' });
    const { token: other } = await login(cluster.replicas[2].url, 'first-speaker');
    const page = await api(cluster.replicas[2].url, '/api/rooms/still-empty/messages?limit=10', other);
    expect(page.body.messages.map((m: { id: string }) => m.id)).toEqual([message.id]);
    expect(await metricSum(cluster, 'sb_history_window_filled_rooms_total')).toBe(fillsBefore);
  });

  it("counts each room's messages for the warm-up's ranking (kept in memory, added to Redis every second)", async () => {
    const sender = await open(2, 'busy-sender', 'busy-room');
    const minute = Math.floor(Date.now() / 60_000);
    await Promise.all(Array.from({ length: 5 }, (_, i) => emitAck(sender, 'message:send', { room: 'busy-room', text: `b${i}`, clientMsgId: `busy-${i}` })));
    const redis = cluster.redisClient();
    try {
      const count = async () => {
        let total = 0;
        for (const m of [minute, minute + 1]) total += Number((await redis.zscore(`sb:rooms:activity:${m}`, 'busy-room')) ?? 0);
        return total;
      };
      await waitFor('activity flushed', async () => (await count()) === 5, 5000);
    } finally {
      redis.disconnect();
    }
  });

  it('counts each broadcast once on each replica by its recipients, and times the stages of a send', async () => {
    const sender = await open(0, 'stage-sender', 'stages');
    for (let i = 0; i < 3; i++) await open(1, `stage-reader-${i}`, 'stages');
    const outOn = async (replica: number) => {
      const text = await (await fetch(`${cluster.replicas[replica].metricsUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('sb_socket_events_out_total{') && l.includes('event="message:new"'));
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    const before = await outOn(1);
    await emitAck(sender, 'message:send', { room: 'stages', text: 'count me', clientMsgId: 'stage-1' });
    await waitFor('three deliveries counted', async () => (await outOn(1)) === before + 3);
    for (const stage of ['limit', 'store', 'redis', 'broadcast']) {
      expect(await metricSum(cluster, 'sb_send_stage_seconds_count', `stage="${stage}"`)).toBeGreaterThan(0);
    }
  });
});
