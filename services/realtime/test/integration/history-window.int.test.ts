import pino from 'pino';
import { ChatService } from '../../src/chat';
import { messageModel } from '../../src/chat/message.model';
import { Keyspace } from '../../src/infra/keys';
import { createMetrics } from '../../src/infra/metrics';
import { MongoConnection } from '../../src/infra/mongo';
import { RedisConnections } from '../../src/infra/redis';
import type { ChatMessage } from '@switchboard/protocol';
import { startFerretDb, startRedisServer } from '../support/cluster';
import { waitFor } from '../support/processes';

const WINDOW = 20;

/**
 * Recent history from Redis windows, checked against what MongoDB (FerretDB)
 * holds: two ChatServices stand for two replicas on one Redis and one database.
 */
describe('history windows in Redis', () => {
  let ferret: Awaited<ReturnType<typeof startFerretDb>>;
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  const log = pino({ level: 'silent' });
  const conns: RedisConnections[] = [];
  const mongos: MongoConnection[] = [];
  let a: ChatService;
  let b: ChatService;

  const replica = async (name: string, mongoUrl: string) => {
    const metrics = createMetrics(name);
    const conn = new RedisConnections(redis.topology, log, metrics);
    await conn.waitUntilUp(10_000);
    const mongo = new MongoConnection(mongoUrl, 5000, log, metrics);
    mongo.start();
    await waitFor('mongo', async () => mongo.isUp());
    conns.push(conn);
    mongos.push(mongo);
    return { conn, mongo, chat: new ChatService(mongo, name, log, metrics, conn, new Keyspace('sbw:'), 5000, { size: WINDOW, ttlMs: 60_000 }) };
  };

  beforeAll(async () => {
    ferret = await startFerretDb();
    redis = await startRedisServer();
    const url = ferret.url('window');
    a = (await replica('a', url)).chat;
    b = (await replica('b', url)).chat;
    await messageModel(mongos[0].connection).init();
  });

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close()));
    await Promise.all(mongos.map((m) => m.close()));
    await redis?.stop();
    await ferret?.stop();
  });

  const send = (chat: ChatService, room: string, i: number) => chat.send(`u${i % 3}`, room, `m${i}`, `${room}-${i}`).then((r) => r.message);
  const ids = (list: ChatMessage[]) => list.map((m) => m.id);
  /** What MongoDB holds, newest first, in the (ts, id) order. */
  const fromDb = async (room: string) =>
    (await messageModel(mongos[0].connection).find({ room }).sort({ ts: -1, _id: -1 }).lean()).map((d) => d._id.toString());
  const windowKey = (room: string) => `sbw:{room:${room}}:recent`;
  /** The window generation a replica compares its adds with (it re-reads it every second). */
  const knownGeneration = (chat: ChatService) => (chat as unknown as { window: { knownGeneration?: number } }).window.knownGeneration;
  /** An inspection client: the other replica's connection (the tests drop the first one's). */
  const raw = () => conns[1].command;

  it('pages and syncs from the window exactly as the database orders them, sends from both replicas interleaved', async () => {
    for (let i = 0; i < 12; i++) await send(i % 2 ? a : b, 'order', i);
    // Same-millisecond messages sort by id in both.
    const db = await fromDb('order');
    expect(ids(await a.history('order', 50))).toEqual(db);
    expect(await raw().exists(windowKey('order'))).toBe(1); // filled by that read
    expect(ids(await b.history('order', 5))).toEqual(db.slice(0, 5));
    expect(ids(await b.history('order', 4, db[5]))).toEqual(db.slice(6, 10));
    const sync = await a.since('order', db[8], 5);
    expect(ids(sync.messages)).toEqual(db.slice(3, 8).reverse());
    expect(sync.hasMore).toBe(true);
    expect(ids((await a.since('order', undefined, 50)).messages)).toEqual([...db].reverse());
  });

  it('answers from Redis alone once filled: documents gone from the database are still served from the window', async () => {
    for (let i = 0; i < 6; i++) await send(a, 'served', i);
    const before = await a.history('served', 10); // fills
    // Take the room's documents out of the database behind the services' back: only the window can still answer.
    await messageModel(mongos[0].connection).deleteMany({ room: 'served' });
    expect(ids(await b.history('served', 10))).toEqual(ids(before));
    expect((await b.since('served', before[5].id, 10)).messages.map((m) => m.text)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('keeps the newest messages only, and reads older pages from the database', async () => {
    for (let i = 0; i < WINDOW + 15; i++) await send(i % 2 ? a : b, 'long', i);
    await a.history('long', 1); // fill
    for (let i = WINDOW + 15; i < WINDOW + 25; i++) await send(b, 'long', i);
    expect(await raw().zcard(windowKey('long'))).toBe(WINDOW + 1); // the newest WINDOW and the fill mark
    const db = await fromDb('long');
    expect(ids(await a.history('long', 10, db[WINDOW - 5]))).toEqual(db.slice(WINDOW - 4, WINDOW + 6)); // crosses the window's end
    expect(ids(await a.history('long', 50))).toEqual(db.slice(0, 50));
    const sync = await b.since('long', db[30], 100); // older than the window
    expect(ids(sync.messages)).toEqual(db.slice(0, 30).reverse());
  });

  it('refills after a replica reconnects to Redis, so a message whose add was lost is not missed', async () => {
    for (let i = 0; i < 3; i++) await send(a, 'gap', i);
    const first = await b.history('gap', 10); // fills
    // A message stored while its replica could not reach Redis: in the database, missing from the window.
    const lost = await messageModel(mongos[0].connection).create({ room: 'gap', userId: 'u9', text: 'lost', clientMsgId: 'gap-lost', ts: Date.now() + 1, instance: 'a' });
    expect(ids(await b.history('gap', 10))).toEqual(ids(first)); // the window cannot know
    // That replica reconnects: it bumps the generation before trusting any window.
    const generation = Number(await raw().get('sbw:rooms:recent-generation'));
    conns[0].command.disconnect(true);
    await waitFor('reconnect', async () => conns[0].isUp() && Number(await raw().get('sbw:rooms:recent-generation')) > generation);
    await waitFor('refill', async () => (await b.history('gap', 10))[0]?.id === lost._id.toString());
    expect((await a.since('gap', first[0].id, 10)).messages.map((m) => m.text)).toEqual(['lost']);
  });

  it('a retried send adds the stored message to a window it never reached', async () => {
    await send(a, 'retry', 0);
    await a.history('retry', 10); // fills
    const doc = await messageModel(mongos[0].connection).create({ room: 'retry', userId: 'u1', text: 'crashed', clientMsgId: 'retry-x', ts: Date.now() + 1, instance: 'a' });
    expect((await b.history('retry', 10)).map((m) => m.text)).toEqual(['m0']);
    const again = await b.send('u1', 'retry', 'crashed', 'retry-x');
    expect(again).toMatchObject({ duplicate: true, message: { id: doc._id.toString() } });
    expect((await a.history('retry', 10)).map((m) => m.text)).toEqual(['crashed', 'm0']);
  });

  it('refills a distrusted window in the background when its room gets a message, before anyone reads it', async () => {
    for (let i = 0; i < 3; i++) await send(a, 'busy', i);
    await a.history('busy', 10); // fills
    const generation = await raw().incr('sbw:rooms:recent-generation'); // what a reconnecting replica does
    // b re-reads the generation every second; until it has, its adds compare with the one before. (Sent
    // at once, this test passed only while b's view still lagged an earlier bump, a race it lost on a busy machine.)
    await waitFor('b has read the bump', async () => knownGeneration(b) === generation);
    await send(b, 'busy', 3);
    // The fill mark's score is generation * 2 (+ 1 while the window holds the whole history).
    await waitFor('background refill', async () => Math.floor(Number(await raw().zscore(windowKey('busy'), '!filled')) / 2) === generation);
    // Trusted again: served without the database.
    await messageModel(mongos[0].connection).deleteMany({ room: 'busy' });
    expect((await a.history('busy', 10)).map((m) => m.text)).toEqual(['m3', 'm2', 'm1', 'm0']);
  });

  it('fills the rooms asked for together with one query, each with the part of its history that query reached', async () => {
    for (let i = 0; i < 3; i++) await send(a, 'quiet', i);
    for (let i = 0; i < 2 * WINDOW + 5; i++) await send(b, 'loud', i);
    // As if expired: only the fills write them now (one key per DEL: they live in different slots on a cluster).
    await raw().del(windowKey('quiet'));
    await raw().del(windowKey('loud'));
    // A fresh replica trusts no window yet: its three reads all need fills.
    const { chat: c, mongo } = await replica('c', ferret.url('window'));
    const queries: string[] = [];
    mongo.connection.set('debug', (collection: string, method: string, query: unknown) => {
      if (collection === 'messages' && method === 'find') queries.push(JSON.stringify(query));
    });
    const [order, quiet, loud] = await Promise.all([c.history('order', 3), c.history('quiet', 10), c.history('loud', 10)]);
    expect(ids(order)).toEqual((await fromDb('order')).slice(0, 3));
    expect(quiet.map((m) => m.text)).toEqual(['m2', 'm1', 'm0']);
    expect(ids(loud)).toEqual((await fromDb('loud')).slice(0, 10));
    // The first read's fill starts alone; the two that arrive while it runs share the next query.
    expect(queries.filter((q) => q.includes('$in'))).toHaveLength(2);
    // The loud room's 45 messages filled the shared query's limit (2 rooms x 20) before the quiet
    // room's older ones: its window is trusted but empty, so its pages come from the database.
    expect(await raw().zcard(windowKey('quiet'))).toBe(1);
    expect((await c.history('quiet', 10)).map((m) => m.text)).toEqual(['m2', 'm1', 'm0']);
  });
});
