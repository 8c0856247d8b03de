import type { Socket } from 'socket.io-client';
import type { Conversation } from '@switchboard/protocol';
import { FAST_PRESENCE, api, collect, emitAck, health, login, metricsOf, openClient, sendOk, startCluster, type Cluster } from '../support/cluster';
import { sleep, waitFor } from '../support/processes';

/** A small window, so read positions fall behind it after a few messages and are counted from MongoDB. */
const WINDOW = 8;

const metric = async (cluster: Cluster, name: string) => {
  let sum = 0;
  for (const r of cluster.replicas) {
    const text = await (await fetch(`${metricsOf(r.url)}/metrics`)).text();
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
};

/**
 * The conversation list, unread counts, read positions and receipts across
 * three replicas, two devices per user, reconnects and Redis losing its data.
 */
describe('conversations: list, unread counts and read receipts', () => {
  let cluster: Cluster;
  const sockets: Socket[] = [];
  const open = (replica: number, userId: string) => openClient(cluster, replica, userId, sockets);
  type Client = Awaited<ReturnType<typeof open>>;
  let seq = 0;
  const send = (c: Client, room: string, text = `m${++seq}`) => sendOk(c, room, text, `${c.userId}-${++seq}`);
  const join = async (c: Client, room: string) => expect(await emitAck(c.socket, 'room:join', { room })).toMatchObject({ ok: true });
  /** Every conversation of the client's user, page after page. */
  const listAll = async (c: Client, limit = 100): Promise<Conversation[]> => {
    const out: Conversation[] = [];
    let cursor: string | undefined;
    do {
      const page = await emitAck(c.socket, 'conversations:list', cursor ? { limit, cursor } : { limit });
      expect(page).toMatchObject({ ok: true });
      out.push(...page.conversations);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return out;
  };
  const conversation = async (c: Client, room: string) => (await listAll(c)).find((x) => x.room === room);
  const unread = async (c: Client, room: string) => (await conversation(c, room))?.unread;
  /** The last conversation:update a socket heard for a room. */
  const latest = (updates: Conversation[], room: string) => updates.filter((u) => u.room === room).at(-1);

  beforeAll(async () => {
    cluster = await startCluster({
      replicas: 3,
      env: { ...FAST_PRESENCE, HISTORY_WINDOW: String(WINDOW), RATE_LIMIT_JOINS: '1000/60s', RATE_LIMIT_MESSAGES: '1000/10s' },
    });
  });

  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('lists conversations newest activity first, with kind, last message, unread count and activity, in pages', async () => {
    const me = await open(0, 'lister');
    const other = await open(1, 'lister-friend');
    for (const room of ['l-quiet', 'l-busy', 'l-old']) await join(me, room);
    for (const room of ['l-busy', 'l-old']) await join(other, room);
    await send(other, 'l-old', 'old news');
    await emitAck(other.socket, 'room:create', { room: 'l-private', private: true, members: ['lister'] });
    await join(other, 'l-private');
    await send(other, 'l-private', 'psst');
    const dm = (await emitAck(other.socket, 'dm:open', { userId: 'lister' })).room as string;
    // Opened by the other side and still empty: not listed yet.
    expect((await listAll(me)).map((c) => c.room)).not.toContain(dm);
    await join(other, dm);
    const hello = await send(other, dm, 'hello you');
    const last = await send(other, 'l-busy', 'newest');

    const all = await listAll(me);
    expect(all.map((c) => c.room)).toEqual(['l-busy', dm, 'l-private', 'l-old', 'l-quiet']);
    expect(all[0]).toEqual({ room: 'l-busy', kind: 'room', private: false, lastMessage: last, unread: 1, lastActivity: last.ts, readUpTo: null });
    expect(all[1]).toMatchObject({ room: dm, kind: 'dm', private: true, with: 'lister-friend', lastMessage: hello, unread: 1, peerReadUpTo: null });
    expect(all[2]).toMatchObject({ kind: 'room', private: true, unread: 1 });
    expect(all[4]).toMatchObject({ room: 'l-quiet', lastMessage: null, unread: 0 });
    // Pages of two walk the same list; HTTP answers the same.
    expect((await listAll(me, 2)).map((c) => c.room)).toEqual(all.map((c) => c.room));
    const http = await api(cluster.replicas[2].url, '/api/conversations?limit=3', me.token);
    expect(http.body.conversations).toEqual(all.slice(0, 3));
    const next = await api(cluster.replicas[2].url, `/api/conversations?limit=3&cursor=${http.body.nextCursor}`, me.token);
    expect(next.body).toEqual({ ok: true, conversations: all.slice(3), nextCursor: null });
    expect((await api(me.url, '/api/conversations?cursor=nope!', me.token)).status).toBe(400);
    expect((await api(me.url, '/api/conversations?limit=101', me.token)).status).toBe(400);
    expect((await api(me.url, '/api/conversations?extra=1', me.token)).status).toBe(400);
  });

  it('counts unread exactly across replicas and devices, updates every subscribed device, and sends receipts in a DM', async () => {
    const alice = await open(0, 'u-alice');
    const phone = await open(1, 'u-bob');
    const laptop = await open(2, 'u-bob');
    const room = (await emitAck(alice.socket, 'dm:open', { userId: 'u-bob' })).room as string;
    await join(alice, room);
    const updates = [phone, laptop].map((d) => collect<Conversation>(d.socket, 'conversation:update'));
    for (const d of [phone, laptop]) await emitAck(d.socket, 'conversations:list', {});
    const receipts = collect(alice.socket, 'receipt');

    const sent = [await send(alice, room), await send(alice, room), await send(alice, room)];
    for (const u of updates) await waitFor('three unread on each device', () => latest(u, room)?.unread === 3 && latest(u, room)?.lastMessage?.id === sent[2].id);

    // Read on the phone: both devices follow, alice hears the receipt.
    expect(await emitAck(phone.socket, 'message:read', { room, upTo: sent[1].id })).toEqual({ ok: true, room, upTo: sent[1].id, unread: 1 });
    for (const u of updates) await waitFor('one unread on each device', () => latest(u, room)?.unread === 1);
    await waitFor('the receipt', () => receipts.some((r) => r.upTo === sent[1].id));
    expect(receipts[0]).toMatchObject({ room, userId: 'u-bob', upTo: sent[1].id });
    expect(latest(updates[1], room)).toMatchObject({ readUpTo: sent[1].id });
    expect(await conversation(alice, room)).toMatchObject({ peerReadUpTo: sent[1].id, unread: 0 });

    // A read position never moves back; no receipt for it.
    expect(await emitAck(laptop.socket, 'message:read', { room, upTo: sent[2].id })).toMatchObject({ unread: 0 });
    expect(await emitAck(phone.socket, 'message:read', { room, upTo: sent[0].id })).toEqual({ ok: true, room, upTo: sent[2].id, unread: 0 });
    for (const u of updates) await waitFor('nothing unread on each device', () => latest(u, room)?.unread === 0);
    await sleep(300);
    expect(receipts.map((r) => r.upTo)).toEqual([sent[1].id, sent[2].id]);
    for (const replica of [0, 1, 2]) {
      const { token } = await login(cluster.replicas[replica].url, 'u-bob');
      expect((await api(cluster.replicas[replica].url, '/api/conversations', token)).body.conversations[0]).toMatchObject({ room, unread: 0, readUpTo: sent[2].id });
    }
    const validation = { ok: false, error: { code: 'VALIDATION' } };
    expect(await emitAck(phone.socket, 'message:read', { room, upTo: 'not-an-id' })).toMatchObject(validation);
    expect(await emitAck(phone.socket, 'message:read', { room, upTo: '0123456789abcdef01234567' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it("never counts one's own messages, whatever the read position", async () => {
    const a = await open(0, 'own-a');
    const b = await open(1, 'own-b');
    for (const c of [a, b]) await join(c, 'own');
    const first = await send(a, 'own');
    await send(a, 'own');
    for (let i = 0; i < 3; i++) await send(b, 'own');
    expect(await unread(b, 'own')).toBe(2);
    expect(await unread(a, 'own')).toBe(3);
    // b read a's first message only: a's second is still unread, b's own three never are.
    await emitAck(b.socket, 'message:read', { room: 'own', upTo: first.id });
    expect(await unread(b, 'own')).toBe(1);
    // Past the window: the counts hold when the position is older than every message Redis keeps.
    for (let i = 0; i < WINDOW + 4; i++) await send(i % 2 ? a : b, 'own');
    expect(await unread(b, 'own')).toBe(1 + (WINDOW + 4) / 2);
    expect(await unread(a, 'own')).toBe(3 + (WINDOW + 4) / 2);
  });

  it('keeps counts exact after reconnects, with read positions older than the window, and reads MongoDB once per position', async () => {
    const writer = await open(0, 'far-writer');
    let reader = await open(1, 'far-reader');
    for (const c of [writer, reader]) await join(c, 'far');
    const msgs = [];
    for (let i = 0; i < 20; i++) msgs.push(await send(writer, 'far'));
    await emitAck(reader.socket, 'message:read', { room: 'far', upTo: msgs[2].id });
    expect(await unread(reader, 'far')).toBe(17);
    const reads = await metric(cluster, 'sb_conversation_read_counts_total');
    reader.socket.close();
    reader = await open(2, 'far-reader');
    expect(await unread(reader, 'far')).toBe(17);
    for (let i = 0; i < 5; i++) await send(writer, 'far');
    expect(await unread(reader, 'far')).toBe(22);
    expect(await unread(reader, 'far')).toBe(22);
    // The position's count of older messages was read from MongoDB once, not per message or per list.
    expect(await metric(cluster, 'sb_conversation_read_counts_total')).toBe(reads);
  });

  it("does not rebuild a user's conversations per message", async () => {
    const a = await open(0, 'steady-a');
    const b = await open(1, 'steady-b');
    for (const c of [a, b]) await join(c, 'steady');
    const updates = collect<Conversation>(b.socket, 'conversation:update');
    await listAll(b);
    const builds = await metric(cluster, 'sb_conversation_cache_builds_total');
    const recounts = await metric(cluster, 'sb_conversation_recounts_total');
    for (let i = 0; i < 15; i++) await send(a, 'steady');
    await waitFor('the updates caught up', () => latest(updates, 'steady')?.unread === 15);
    expect(await unread(b, 'steady')).toBe(15);
    expect(await metric(cluster, 'sb_conversation_cache_builds_total')).toBe(builds);
    expect(await metric(cluster, 'sb_conversation_recounts_total')).toBe(recounts);
    // Aggregated: fewer updates than messages.
    expect(updates.filter((u) => u.room === 'steady').length).toBeLessThan(15);
  });

  it('recounts exactly from MongoDB when Redis loses its data, and after an outage in which messages were stored', async () => {
    const a = await open(0, 'lost-a');
    const b = await open(1, 'lost-b');
    for (const c of [a, b]) await join(c, 'lost');
    const msgs = [];
    for (let i = 0; i < 12; i++) msgs.push(await send(i % 3 ? a : b, 'lost'));
    await emitAck(b.socket, 'message:read', { room: 'lost', upTo: msgs[4].id });
    const expected = msgs.slice(5).filter((_, i) => (i + 5) % 3 !== 0).length;
    expect(await unread(b, 'lost')).toBe(expected);
    const beforeFlush = await listAll(b);

    await cluster.flushAll();
    // Sessions went with Redis: log in again. The lists come back whole from MongoDB.
    const b2 = await open(2, 'lost-b');
    expect(await listAll(b2)).toEqual(beforeFlush);
    const a2 = await open(0, 'lost-a');
    expect(await unread(a2, 'lost')).toBe(msgs.filter((_, i) => i % 3 === 0).length);

    // Redis down: messages are still stored (and acked); the counts include them once Redis is back.
    await join(a2, 'lost');
    await cluster.killRedis();
    try {
      await waitFor('replicas notice', async () => (await health(cluster.replicas[0].url)).body.status === 'degraded');
      for (let i = 0; i < 3; i++) await send(a2, 'lost');
      expect(await emitAck(b2.socket, 'conversations:list', {})).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    } finally {
      await cluster.startRedis();
    }
    await waitFor('every replica ok', async () => (await Promise.all(cluster.replicas.map((r) => health(r.url)))).every((h) => h.body.status === 'ok'), 60_000);
    const b3 = await open(1, 'lost-b');
    await waitFor('the outage messages counted', async () => (await unread(b3, 'lost')) === expected + 3, 30_000);
  });
});
