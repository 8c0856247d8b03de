import type { Socket } from 'socket.io-client';
import { FAST_PRESENCE, api, collect, connect, emitAck, login, startCluster, type Cluster } from '../support/cluster';
import { sleep, waitFor } from '../support/processes';

/** Three service processes on one real redis-server and FerretDB. */
describe('three replicas sharing Redis and MongoDB', () => {
  let cluster: Cluster;
  const sockets: Socket[] = [];
  const open = async (replica: number, userId: string) => {
    const { token } = await login(cluster.replicas[replica].url, userId);
    const s = await connect(cluster.replicas[replica].url, token);
    sockets.push(s);
    return { socket: s, token };
  };

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 3, env: FAST_PRESENCE });
  });

  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('delivers a message from replica 1 to the room on replicas 2 and 3 exactly once each, and stores it', async () => {
    const a = await open(0, 'alice');
    const b = await open(1, 'bob');
    const c = await open(2, 'carol');
    for (const s of [a, b, c]) expect(await emitAck(s.socket, 'room:join', { room: 'lobby' })).toMatchObject({ ok: true, room: 'lobby' });

    const gotB = collect(b.socket, 'message:new');
    const gotC = collect(c.socket, 'message:new');
    const gotA = collect(a.socket, 'message:new');
    const ack = await emitAck(a.socket, 'message:send', { room: 'lobby', text: 'hello from 1', clientMsgId: 'm-1' });
    expect(ack).toMatchObject({ ok: true, message: { room: 'lobby', userId: 'alice', text: 'hello from 1', clientMsgId: 'm-1', instance: 'realtime-1' } });
    expect(ack.message.id).toMatch(/^[0-9a-f]{24}$/);

    await waitFor('both receivers', () => gotB.length >= 1 && gotC.length >= 1);
    await sleep(500); // a duplicate would arrive within this window
    expect(gotB).toEqual([ack.message]);
    expect(gotC).toEqual([ack.message]);
    expect(gotA).toEqual([ack.message]);

    const history = await api(cluster.replicas[2].url, '/api/rooms/lobby/messages?limit=10', c.token);
    expect(history.status).toBe(200);
    expect(history.body.messages.map((m: { id: string }) => m.id)).toContain(ack.message.id);
  });

  it('returns the first message for a repeated clientMsgId and does not broadcast it twice', async () => {
    const a = await open(0, 'dave');
    const b = await open(1, 'erin');
    await emitAck(a.socket, 'room:join', { room: 'retries' });
    await emitAck(b.socket, 'room:join', { room: 'retries' });
    const got = collect(b.socket, 'message:new');
    const first = await emitAck(a.socket, 'message:send', { room: 'retries', text: 'once', clientMsgId: 'retry-1' });
    const again = await emitAck(a.socket, 'message:send', { room: 'retries', text: 'once (retried)', clientMsgId: 'retry-1' });
    expect(again).toMatchObject({ ok: true, duplicate: true });
    expect(again.message).toEqual(first.message);
    await waitFor('broadcast', () => got.length >= 1);
    await sleep(500);
    expect(got).toHaveLength(1);
    const history = await api(cluster.replicas[0].url, '/api/rooms/retries/messages', a.token);
    expect(history.body.messages).toHaveLength(1);
  });

  it("broadcasts one socket's rapid sends in the order it sent them", async () => {
    const a = await open(0, 'burst');
    const b = await open(2, 'burst-reader');
    await emitAck(a.socket, 'room:join', { room: 'order' });
    await emitAck(b.socket, 'room:join', { room: 'order' });
    const got = collect(b.socket, 'message:new');
    // Fired without waiting for acks, as a fast client would.
    const acks = await Promise.all(Array.from({ length: 15 }, (_, i) => emitAck(a.socket, 'message:send', { room: 'order', text: `n${i}`, clientMsgId: `order-${i}` })));
    expect(acks.every((x) => x.ok)).toBe(true);
    await waitFor('all delivered', () => got.length >= 15);
    expect(got.map((m) => m.text)).toEqual(Array.from({ length: 15 }, (_, i) => `n${i}`));
  });

  it('syncs what a client missed after a given message id, oldest first', async () => {
    const a = await open(0, 'frank');
    await emitAck(a.socket, 'room:join', { room: 'sync' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const ack = await emitAck(a.socket, 'message:send', { room: 'sync', text: `n${i}`, clientMsgId: `sync-${i}` });
      ids.push(ack.message.id);
    }
    const b = await open(2, 'gina');
    await emitAck(b.socket, 'room:join', { room: 'sync' });
    const sync = await emitAck(b.socket, 'history:sync', { room: 'sync', after: ids[1] });
    expect(sync.ok).toBe(true);
    expect(sync.messages.map((m: { id: string }) => m.id)).toEqual(ids.slice(2));
    const page = await api(cluster.replicas[1].url, `/api/rooms/sync/messages?limit=2&before=${ids[4]}`, b.token);
    expect(page.body.messages.map((m: { text: string }) => m.text)).toEqual(['n3', 'n2']);
  });

  it('shows a user connected to replica 3 as online through replica 1, and room members across replicas', async () => {
    const watcher = await open(0, 'watcher');
    const updates = collect(watcher.socket, 'presence:update');
    // presence:update reaches subscribers only; the snapshot says heidi is not here yet.
    expect(await emitAck(watcher.socket, 'presence:subscribe', { userIds: ['heidi'] })).toEqual({
      ok: true,
      users: [{ userId: 'heidi', status: 'offline', online: false, devices: 0 }],
    });
    const h = await open(2, 'heidi');
    await emitAck(h.socket, 'room:join', { room: 'members' });
    await emitAck(watcher.socket, 'room:join', { room: 'members' });

    // Presence is written after the socket is connected (a side effect), so wait for it.
    const presence = await waitFor('heidi listed', async () => {
      const res = await api(cluster.replicas[0].url, '/api/presence', watcher.token);
      return res.body.users?.some((u: { userId: string }) => u.userId === 'heidi') && res;
    });
    expect(presence.body.users).toEqual(expect.arrayContaining([{ userId: 'heidi', status: 'online', devices: 1 }]));
    await waitFor('presence:update for heidi', () => updates.some((u) => u.userId === 'heidi' && u.online));

    const members = await api(cluster.replicas[1].url, '/api/rooms/members/members', watcher.token);
    expect(members.body.members.sort()).toEqual(['heidi', 'watcher']);

    const away = await emitAck(h.socket, 'presence:set', { status: 'away' });
    expect(away).toEqual({ ok: true });
    await waitFor('away update', () => updates.some((u) => u.userId === 'heidi' && u.status === 'away'));
    const after = await api(cluster.replicas[1].url, '/api/presence', watcher.token);
    expect(after.body.users.find((u: { userId: string }) => u.userId === 'heidi')).toMatchObject({ status: 'away' });
  });

  it('keeps a user with two devices online until the second one disconnects', async () => {
    const watcher = await open(1, 'watcher2');
    const updates = collect(watcher.socket, 'presence:update');
    await emitAck(watcher.socket, 'presence:subscribe', { userIds: ['ivan'] });
    const phone = await open(0, 'ivan');
    const laptop = await open(2, 'ivan');
    const online = async () => (await api(cluster.replicas[1].url, '/api/presence', watcher.token)).body.users.find((u: { userId: string }) => u.userId === 'ivan');
    // The laptop's presence is written after its socket is connected: wait for it.
    await waitFor('two devices', async () => (await online())?.devices === 2);
    expect(await online()).toMatchObject({ devices: 2 });

    phone.socket.close();
    await waitFor('one device left', async () => (await online())?.devices === 1);
    expect(updates.filter((u) => u.userId === 'ivan' && !u.online)).toHaveLength(0);

    laptop.socket.close();
    await waitFor('ivan offline', async () => (await online()) === undefined);
    await waitFor('offline update', () => updates.some((u) => u.userId === 'ivan' && !u.online && u.devices === 0));
  });

  it('relays typing and room events across replicas', async () => {
    const a = await open(0, 'judy');
    const b = await open(1, 'ken');
    await emitAck(b.socket, 'room:join', { room: 'typing' });
    const events = collect(b.socket, 'room:event');
    const typing = collect(b.socket, 'typing');
    await emitAck(a.socket, 'room:join', { room: 'typing' });
    await waitFor('join event', () => events.some((e) => e.type === 'join' && e.userId === 'judy'));
    a.socket.emit('typing', { room: 'typing', typing: true });
    await waitFor('typing', () => typing.length > 0);
    expect(typing[0]).toEqual({ room: 'typing', userId: 'judy', typing: true });
    expect(await emitAck(a.socket, 'room:leave', { room: 'typing' })).toEqual({ ok: true });
    await waitFor('leave event', () => events.some((e) => e.type === 'leave' && e.userId === 'judy'));
  });

  it('answers region:update with the geohash cell', async () => {
    const a = await open(0, 'lena');
    expect(await emitAck(a.socket, 'region:update', { lat: 52.52, lng: 13.405 })).toEqual({ ok: true, region: 'u33dc' });
  });

  it('says which replica served every HTTP response', async () => {
    for (const r of cluster.replicas) {
      const res = await fetch(`${r.url}/health`);
      expect(res.headers.get('x-served-by')).toBe(r.name);
      expect(await res.json()).toMatchObject({ status: 'ok', instance: r.name, services: { redis: 'connected', mongo: 'connected', socketio: 'active' } });
    }
  });
});
