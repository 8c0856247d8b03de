import { FAST_PRESENCE, api, collect, connect, emitAck, health, login, metricsOf, startCluster, type Cluster } from '../support/cluster';
import { freeze, sleep, thaw, waitFor } from '../support/processes';

const TTL_MS = Number(FAST_PRESENCE.PRESENCE_TTL_MS);
const SWEEP_MS = Number(FAST_PRESENCE.PRESENCE_SWEEP_MS);

const unhandledRejections = async (url: string) => {
  const text = await (await fetch(`${metricsOf(url)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('sb_unhandled_rejections_total'));
  return Number(line?.split(' ').at(-1) ?? NaN);
};

/** How often a replica answered `operation` from local state because Redis was unavailable. */
const fallbacks = async (url: string, operation: string) => {
  const text = await (await fetch(`${metricsOf(url)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('sb_redis_fallbacks_total{') && l.includes(`operation="${operation}"`));
  return Number(line?.split(' ').at(-1) ?? 0);
};

describe('replica and Redis failures', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    // Debug logs: a failure message quotes the replicas' presence and Redis lines.
    cluster = await startCluster({ replicas: 3, env: { ...FAST_PRESENCE, LOG_LEVEL: 'debug' } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** For failure messages: each replica's last `max` log lines that match. */
  const replicaLogLines = (match: RegExp, max: number) =>
    cluster.replicas.map((r) => `--- ${r.name}\n${r.proc.output().split('\n').filter((l) => match.test(l)).slice(-max).join('\n')}`).join('\n');

  /**
   * Freezes the replica holding `userId`'s only connection until a watcher on
   * another replica hears the user go offline, runs `whileSwept`, resumes it,
   * and checks the user comes back online (announced and listed) with the
   * client never noticing.
   */
  const freezeSweepAndResume = async (userId: string, whileSwept: () => Promise<void> = async () => undefined) => {
    const [r1, , r3] = cluster.replicas;
    const watcher = await login(r1.url, `watcher-of-${userId}`);
    const w = await connect(r1.url, watcher.token);
    const updates = collect(w, 'presence:update');
    await emitAck(w, 'presence:subscribe', { userIds: [userId] });
    const victim = await login(r3.url, userId);
    const v = await connect(r3.url, victim.token);
    const listed = async () => (await api(r1.url, '/api/presence', watcher.token)).body;
    const isListed = (body: { users?: Array<{ userId: string }> }) => body.users?.some((u) => u.userId === userId) ?? false;
    await waitFor(`${userId} online`, async () => isListed(await listed()));

    const frozenAt = Date.now();
    try {
      await freeze(r3.proc);
      await waitFor('offline announcement', () => updates.some((u) => u.userId === userId && !u.online), TTL_MS + 2 * SWEEP_MS + 5000);
      const took = Date.now() - frozenAt;
      expect(took).toBeLessThanOrEqual(TTL_MS + 2 * SWEEP_MS + 1000);
      expect(isListed(await listed())).toBe(false);
      await whileSwept();
    } finally {
      thaw(r3.proc);
    }
    // The replica notices it may have been swept and re-announces its users; the client never noticed.
    await waitFor('back online', () => updates.some((u) => u.userId === userId && u.online && u.ts > frozenAt + TTL_MS), 15_000);
    const body = await waitFor('listed online again', async () => {
      const b = await listed();
      return isListed(b) ? b : undefined;
    }, 5000).catch(async (err: Error) => {
      throw new Error(
        `${err.message}\nlast answer: ${JSON.stringify(await listed())}\nupdates: ${JSON.stringify(updates.filter((u) => u.userId === userId))}, frozen at ${frozenAt}\n` +
          replicaLogLines(/presence|redis|swept|node/i, 20),
      );
    });
    expect(body.degraded).toBeUndefined();
    expect(v.connected).toBe(true);
    w.close();
    v.close();
  };

  it("takes a frozen (SIGSTOP) replica's users offline within TTL plus one sweep, and back when it resumes", async () => {
    await freezeSweepAndResume('frozen-user');
  });

  it("re-announces a resumed replica's users even when the heartbeat that re-registers it times out", async () => {
    // Writes block for longer than the service's command timeout (2 s): the
    // resumed replica's first heartbeat re-adds its node entry in Redis, but
    // the replica never hears the answer, and later heartbeats find the node
    // registered.
    await freezeSweepAndResume('frozen-user-2', () => cluster.pauseWrites(2500));
  });

  it('survives Redis being killed: no replica exits, /health goes degraded then ok, delivery comes back', async () => {
    const [r1, r2] = cluster.replicas;
    const a = await login(r1.url, 'ann');
    const b = await login(r2.url, 'ben');
    const sa = await connect(r1.url, a.token, { reconnection: true });
    const sb = await connect(r2.url, b.token, { reconnection: true });
    await emitAck(sa, 'room:join', { room: 'outage' });
    await emitAck(sb, 'room:join', { room: 'outage' });
    const gotB = collect(sb, 'message:new');
    const syncHints = collect(sb, 'sync:required');

    await cluster.killRedis();
    for (const r of cluster.replicas) {
      await waitFor(`${r.name} degraded`, async () => (await health(r.url)).body.status === 'degraded', 15_000);
    }
    const h = await health(r1.url);
    expect(h.status).toBe(200);
    expect(h.body.services).toMatchObject({ redis: 'disconnected', mongo: 'connected' });

    // The local replica keeps working: the message is persisted and acked.
    const during = await emitAck(sa, 'message:send', { room: 'outage', text: 'during outage', clientMsgId: 'o-1' });
    expect(during).toMatchObject({ ok: true, message: { text: 'during outage' } });
    const presence = await api(r1.url, '/api/presence', a.token);
    expect(presence.body).toMatchObject({ ok: true, degraded: true });
    expect(presence.body.users.map((u: { userId: string }) => u.userId)).toContain('ann');
    expect(await fallbacks(r1.url, 'presence.online')).toBeGreaterThan(0);
    // A room's members from this replica's own sockets: ben is on another replica.
    const members = await api(r1.url, '/api/rooms/outage/members', a.token);
    expect(members.body).toMatchObject({ ok: true, members: ['ann'], degraded: true });

    await sleep(1000);
    await cluster.startRedis();
    for (const r of cluster.replicas) {
      // A cluster or Sentinel set needs a few seconds more to agree again than one server.
      await waitFor(`${r.name} ok again`, async () => (await health(r.url)).body.status === 'ok', 40_000);
    }
    // Clients are told to sync what the outage kept from them.
    await waitFor('sync:required hint', () => syncHints.length > 0, 5000);
    expect(syncHints[0]).toMatchObject({ reason: 'redis-recovered', since: expect.any(Number) });
    expect(syncHints[0].since).toBeLessThan(syncHints[0].ts);
    // Cross-replica delivery resumes (the subscriber re-subscribed) and presence is whole again.
    await waitFor('cross-replica delivery', async () => {
      const before = gotB.length;
      await emitAck(sa, 'message:send', { room: 'outage', text: `after ${Date.now()}`, clientMsgId: `o-${Date.now()}` });
      await sleep(300);
      return gotB.length > before;
    }, 10_000, 200).catch(async (err: Error) => {
      throw new Error(
        `${err.message}\npub/sub connections:\n${await cluster.pubsubClients().catch((e: Error) => e.message)}\n` +
          replicaLogLines(/redis|subscri|adapter/i, 40),
      );
    });
    await waitFor('presence restored', async () => {
      const users = (await api(r2.url, '/api/presence', b.token)).body.users?.map((u: { userId: string }) => u.userId) ?? [];
      return users.includes('ann') && users.includes('ben');
    }, 10_000);
    // The message sent during the outage is in history for anyone who syncs.
    const sync = await emitAck(sb, 'history:sync', { room: 'outage' });
    expect(sync.messages.map((m: { text: string }) => m.text)).toContain('during outage');

    for (const r of cluster.replicas) {
      expect(r.proc.child.exitCode).toBeNull();
      expect(await unhandledRejections(r.url)).toBe(0);
    }
    sa.close();
    sb.close();
  });

  it('removes what closed while Redis was away once it is back: the user goes offline and leaves the room', async () => {
    const [r1, r2] = cluster.replicas;
    const watcher = await login(r2.url, 'away-watcher');
    const gone = await connect(r1.url, (await login(r1.url, 'gone-while-away')).token);
    await emitAck(gone, 'room:join', { room: 'away-room' });
    const listed = async () => ((await api(r2.url, '/api/presence', watcher.token)).body.users ?? []).some((u: { userId: string }) => u.userId === 'gone-while-away');
    await waitFor('listed online', listed);
    await cluster.killRedis();
    try {
      await waitFor('r1 degraded', async () => (await health(r1.url)).body.status === 'degraded', 15_000);
      // Its entries cannot be removed now; its replica lives on, so no sweeper will remove them either.
      gone.close();
      await sleep(500);
    } finally {
      await cluster.startRedis();
    }
    for (const r of cluster.replicas) await waitFor(`${r.name} ok again`, async () => (await health(r.url)).body.status === 'ok', 40_000);
    await waitFor('offline once Redis is back', async () => !(await listed()), 10_000);
    expect((await api(r2.url, '/api/rooms/away-room/members', watcher.token)).body.members).toEqual([]);
  });

  it("takes a killed (SIGKILL) replica's users offline within TTL plus one sweep, with its rooms and session records", async () => {
    const r1 = cluster.replicas[0];
    const doomed = await cluster.startReplica('realtime-4');
    const watcher = await login(r1.url, 'killed-watcher');
    const w = await connect(r1.url, watcher.token);
    const updates = collect(w, 'presence:update');
    await emitAck(w, 'presence:subscribe', { userIds: ['killed-user'] });
    const victim = await connect(doomed.url, (await login(doomed.url, 'killed-user')).token);
    await emitAck(victim, 'room:join', { room: 'killed-room' });
    await waitFor('online', () => updates.some((u) => u.userId === 'killed-user' && u.online));
    const socketId = victim.id!;
    const redis = cluster.redisClient();
    try {
      expect(await redis.exists(`sb:socket:{${socketId}}`)).toBe(1);
      const killedAt = Date.now();
      doomed.proc.child.kill('SIGKILL');
      await doomed.proc.exited;
      await waitFor('offline announcement', () => updates.some((u) => u.userId === 'killed-user' && !u.online), TTL_MS + 2 * SWEEP_MS + 5000);
      expect(Date.now() - killedAt).toBeLessThanOrEqual(TTL_MS + 2 * SWEEP_MS + 1000);
      const online = (await api(r1.url, '/api/presence', watcher.token)).body.users.map((u: { userId: string }) => u.userId);
      expect(online).not.toContain('killed-user');
      expect((await api(r1.url, '/api/rooms/killed-room/members', watcher.token)).body.members).toEqual([]);
      // The sweeper removed its entries, not only the readers' view of them.
      expect(await redis.exists(`sb:socket:{${socketId}}`)).toBe(0);
      expect(await redis.zcard('sb:{room:killed-room}:members')).toBe(0);
      expect(await redis.zcard('sb:{u:killed-user}:conns')).toBe(0);
    } finally {
      redis.disconnect();
      victim.close();
      w.close();
    }
  });

  it('re-asserts every local connection when Redis comes back without its data', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const sockets = await Promise.all(
      [r1, r2, r3].map(async (r, i) => connect(r.url, (await login(r.url, `keeper-${i}`)).token)),
    );
    const redis = cluster.redisClient();
    try {
      const online = () => redis.zrangebyscore('sb:presence:users', `(${Date.now()}`, '+inf');
      await waitFor('all three online', async () => (await online()).filter((u) => u.startsWith('keeper-')).length === 3);
      await cluster.flushAll();
      // A replica's refresh may land between the flush and this read (on a cluster the flush is one call per primary).
      expect((await online()).filter((u) => u.startsWith('keeper-')).length).toBeLessThan(3);
      // Within one refresh every replica notices its node entry is gone and writes everything again.
      await waitFor('presence re-asserted', async () => (await online()).filter((u) => u.startsWith('keeper-')).length === 3, 5000);
    } finally {
      redis.disconnect();
      for (const s of sockets) s.close();
    }
  });

  it('exits 0 on SIGTERM and takes its users offline at once', async () => {
    const [r1, r2] = cluster.replicas;
    const w = await login(r1.url, 'observer');
    const ws = await connect(r1.url, w.token);
    const updates = collect(ws, 'presence:update');
    await emitAck(ws, 'presence:subscribe', { userIds: ['leaver'] });
    const leaver = await login(r2.url, 'leaver');
    const ls = await connect(r2.url, leaver.token);
    await waitFor('leaver online', () => updates.some((u) => u.userId === 'leaver' && u.online));
    const disconnected = new Promise<string>((resolve) => ls.once('disconnect', (reason) => resolve(reason)));
    r2.proc.child.kill('SIGTERM');
    expect(await r2.proc.exited).toBe(0);
    // A transport close, not a server kick, so socket.io-client would reconnect elsewhere.
    expect(await disconnected).toBe('transport close');
    await waitFor('offline at once', () => updates.some((u) => u.userId === 'leaver' && !u.online), 3000);
    ws.close();
  });
});
