import type { Cluster as RedisCluster, Redis } from 'ioredis';
import ngeohash from 'ngeohash';
import { FAST_PRESENCE, api, connect, emitAck, login, startCluster, type Cluster } from '../support/cluster';
import { sleep, waitFor } from '../support/processes';
import { commandsPerSecond } from '../support/redis-commands';
import { BACKSTOP_MS } from '../../src/presence';

describe('socket sessions, regions, pub/sub channels, users and stats', () => {
  let cluster: Cluster;
  let redis: Redis | RedisCluster;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 3, env: FAST_PRESENCE });
    redis = cluster.redisClient();
  });

  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  it('keeps a Redis record per connection with a backstop TTL, and removes it on disconnect', async () => {
    const { token } = await login(cluster.replicas[0].url, 'rec');
    const s = await connect(cluster.replicas[0].url, token);
    const key = `sb:socket:{${s.id}}`;
    await waitFor('record', async () => (await redis.exists(key)) === 1);
    const record = await redis.hgetall(key);
    expect(record).toMatchObject({ userId: 'rec', nodeId: expect.stringMatching(/^realtime-1-/), connectedAt: expect.any(String), lastActivityAt: expect.any(String) });
    // The record lives as long as its replica's heartbeat; the TTL only bounds it if every replica dies.
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(BACKSTOP_MS);

    await emitAck(s, 'region:update', { lat: 48.8566, lng: 2.3522 });
    expect(await redis.hgetall(key)).toMatchObject({ region: ngeohash.encode(48.8566, 2.3522, 5), lat: '48.8566', lng: '2.3522' });
    s.close();
    await waitFor('record removed', async () => (await redis.exists(key)) === 0);
  });

  it('moves a connection between region cells and lists members with the eight neighbours', async () => {
    const [r1, r2] = cluster.replicas;
    const a = await login(r1.url, 'rider');
    const b = await login(r2.url, 'driver');
    const sa = await connect(r1.url, a.token);
    const sb = await connect(r2.url, b.token);
    const paris = ngeohash.encode(48.8566, 2.3522, 5);
    expect(await emitAck(sa, 'region:update', { lat: 48.8566, lng: 2.3522 })).toEqual({ ok: true, region: paris });
    // The driver sits in a neighbouring cell.
    const [nLat, nLng] = (() => {
      const d = ngeohash.decode(ngeohash.neighbor(paris, [1, 0]));
      return [d.latitude, d.longitude];
    })();
    const next = (await emitAck(sb, 'region:update', { lat: nLat, lng: nLng })).region;
    expect(next).toBe(ngeohash.neighbor(paris, [1, 0]));

    const only = await api(r2.url, `/api/regions/${paris}/members`, a.token);
    expect(only.body).toEqual({ ok: true, region: paris, cells: { [paris]: ['rider'] } });
    const around = await api(r2.url, `/api/regions/${paris}/members?neighbors=1`, a.token);
    expect(Object.keys(around.body.cells)).toHaveLength(9);
    expect(around.body.cells[next]).toEqual(['driver']);

    // Moving to London leaves the Paris cell.
    const london = (await emitAck(sa, 'region:update', { lat: 51.5074, lng: -0.1278 })).region;
    expect((await api(r1.url, `/api/regions/${paris}/members`, a.token)).body.cells[paris]).toEqual([]);
    expect((await api(r1.url, `/api/regions/${london}/members`, a.token)).body.cells[london]).toEqual(['rider']);
    expect((await api(r1.url, '/api/regions/not-a-hash!/members', a.token)).status).toBe(400);
    sa.close();
    sb.close();
  });

  it('publishes presence, status and room events on Redis channels for other services', async () => {
    // PUBLISH reaches every node of a cluster, so a subscriber on any node hears it.
    const sub = cluster.redisClient();
    const got: Record<string, any[]> = {};
    sub.on('message', (channel: string, message: string) => (got[channel] ??= []).push(JSON.parse(message)));
    await sub.subscribe('sb:events:presence', 'sb:events:user-status', 'sb:events:room');
    try {
      const { token } = await login(cluster.replicas[2].url, 'emitter');
      const s = await connect(cluster.replicas[2].url, token);
      await emitAck(s, 'room:join', { room: 'channels' });
      await emitAck(s, 'presence:set', { status: 'busy' });
      const mine = (channel: string) => (got[channel] ?? []).filter((e) => e.userId === 'emitter');
      await waitFor('all three channels', () => mine('sb:events:presence').length && mine('sb:events:user-status').length && mine('sb:events:room').length);
      expect(mine('sb:events:presence')[0]).toMatchObject({ userId: 'emitter', online: true, devices: 1, status: 'online' });
      expect(mine('sb:events:user-status')[0]).toMatchObject({ userId: 'emitter', status: 'busy', ts: expect.any(Number) });
      expect(mine('sb:events:room')[0]).toMatchObject({ type: 'join', room: 'channels', userId: 'emitter' });
      s.close();
    } finally {
      sub.disconnect();
    }
  });

  it('persists lastSeen in MongoDB and answers GET /api/users/:id even when Redis is emptied', async () => {
    const [r1, r2] = cluster.replicas;
    const viewer = await login(r1.url, 'viewer');
    const { token } = await login(r2.url, 'seen-user', { name: 'Seen User' });
    const s = await connect(r2.url, token);
    // The profile is written after the login answers, and presence after the
    // socket is connected (both side effects), so wait for both.
    const online = await waitFor('profile stored and user online', async () => {
      const res = await api(r1.url, '/api/users/seen-user', viewer.token);
      return res.body.user?.name === 'Seen User' && res.body.user.online && res;
    });
    expect(online.body).toMatchObject({ ok: true, user: { userId: 'seen-user', name: 'Seen User', online: true, devices: 1, lastSeen: null } });
    const before = Date.now();
    s.close();
    await waitFor('lastSeen written', async () => (await api(r1.url, '/api/users/seen-user', viewer.token)).body.user.lastSeen >= before);

    await cluster.flushAll();
    // The viewer's session went with the flush: log in again, then ask.
    const again = await login(r1.url, 'viewer');
    const after = await api(r1.url, '/api/users/seen-user', again.token);
    expect(after.body).toMatchObject({ ok: true, user: { userId: 'seen-user', online: false, status: 'offline' } });
    expect(after.body.user.lastSeen).toBeGreaterThanOrEqual(before);
    expect((await api(r1.url, '/api/users/nobody-at-all', again.token)).status).toBe(404);
  });

  it('exposes the service metrics in Prometheus format', async () => {
    const r = cluster.replicas[0];
    const { token } = await login(r.url, 'metered');
    const s = await connect(r.url, token);
    await emitAck(s, 'room:join', { room: 'metrics' });
    await emitAck(s, 'message:send', { room: 'metrics', text: 'count me', clientMsgId: 'mt-1' });
    await emitAck(s, 'room:join', { room: '' });
    await api(r.url, '/api/rooms/metrics/messages', token);
    // Not on the main port (nginx proxies that one): on the internal listener only.
    expect((await fetch(`${r.url}/metrics`)).status).toBe(404);
    const res = await fetch(`${r.metricsUrl}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const value = (pattern: RegExp) => Number(text.split('\n').find((l) => pattern.test(l))?.split(' ').at(-1));
    expect(value(/^sb_socket_events_in_total\{event="message:send",result="ok"/)).toBeGreaterThanOrEqual(1);
    expect(value(/^sb_socket_events_in_total\{event="room:join",result="VALIDATION"/)).toBeGreaterThanOrEqual(1);
    expect(value(/^sb_socket_events_out_total\{event="message:new"/)).toBeGreaterThanOrEqual(1);
    expect(value(/^sb_broadcasts_total\{event="message:new"/)).toBeGreaterThanOrEqual(1);
    expect(value(/^sb_socket_ack_seconds_count\{.*event="message:send"/)).toBeGreaterThanOrEqual(1);
    expect(value(/^sb_cache_lookups_total\{result="(hit|miss)"/)).toBeGreaterThanOrEqual(1);
    expect(value(/^sb_redis_up\{/)).toBe(1);
    expect(value(/^sb_mongo_up\{/)).toBe(1);
    expect(value(/^sb_unhandled_rejections_total\{/)).toBe(0);
    expect(text).toMatch(/^sb_jobs\{state="completed",instance="realtime-1"\} \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds\{instance="realtime-1"\} /m);
    s.close();
  });

  it('reports every replica and its connections in /api/stats', async () => {
    const sockets = await Promise.all(cluster.replicas.map(async (r, i) => connect(r.url, (await login(r.url, `stat-${i}`)).token)));
    await emitAck(sockets[0], 'room:join', { room: 'stats-room' });
    // An operator's view: `ops` has the admin role (AUTH_DEMO_ADMINS in test/support/cluster.ts).
    const { token } = await login(cluster.replicas[0].url, 'ops');
    await waitFor('three replicas with connections', async () => {
      const stats = (await api(cluster.replicas[1].url, '/api/stats', token)).body;
      return stats.replicas?.length === 3 && stats.replicas.every((r: { connections: number }) => r.connections >= 1) && stats;
    }, 10_000);
    const stats = (await api(cluster.replicas[1].url, '/api/stats', token)).body;
    expect(stats.replicas.map((r: { instance: string }) => r.instance).sort()).toEqual(['realtime-1', 'realtime-2', 'realtime-3']);
    expect(stats.onlineUsers).toBeGreaterThanOrEqual(3);
    expect(stats.rooms).toBeGreaterThanOrEqual(1);
    expect(stats.cache).toEqual({ hits: expect.any(Number), misses: expect.any(Number), keys: expect.any(Number) });
    expect(stats.jobs).toHaveProperty('completed');
    for (const s of sockets) s.close();
  });
  it('keeps every connection, its session record and room membership alive past the TTL with a heartbeat that costs the same for any number of sockets', async () => {
    const ttl = Number(FAST_PRESENCE.PRESENCE_TTL_MS);
    const url = cluster.replicas[1].url;
    const idle = await commandsPerSecond(cluster, 4000);
    const users = Array.from({ length: 40 }, (_, i) => `kept-${i}`);
    const tokens = await Promise.all(users.map(async (u) => (await login(url, u)).token));
    const sockets = await Promise.all(tokens.map((t) => connect(url, t)));
    try {
      for (const s of sockets) expect(await emitAck(s, 'room:join', { room: 'kept' })).toMatchObject({ ok: true });
      // Three TTLs: without their node's heartbeat, every entry below would have stopped counting twice over.
      await sleep(3 * ttl);
      // Writing each connection every refresh (PRESENCE_REFRESH_MS = 1 s) cost about 11 commands per socket per second.
      const busy = await commandsPerSecond(cluster, 4000);
      expect(busy - idle).toBeLessThan(sockets.length);
      for (const [i, s] of sockets.entries()) {
        expect(await redis.zrange(`sb:{u:${users[i]}}:conns`, 0, -1)).toEqual([expect.stringMatching(new RegExp(`^realtime-2-[0-9a-f]+:${s.id}$`))]);
        expect(await redis.exists(`sb:socket:{${s.id}}`)).toBe(1);
      }
      const online = (await api(url, '/api/presence', tokens[0])).body.users.map((u: { userId: string }) => u.userId);
      expect(online).toEqual(expect.arrayContaining(users));
      const members = (await api(cluster.replicas[0].url, '/api/rooms/kept/members', tokens[0])).body.members;
      expect([...members].sort()).toEqual([...users].sort());
    } finally {
      for (const s of sockets) s.close();
    }
  });
});
