import mongoose, { Schema } from 'mongoose';
import { MessageWriter, MessageWriteTimeout } from '../../src/chat/message-writer';
import { messageModel, type MessageDoc } from '../../src/chat/message.model';
import { UserWriteQueue, type UserWriteQueueOptions } from '../../src/users/user-writes';
import type { UserDoc } from '../../src/users';
import { startFerretDb } from '../support/cluster';
import { freePort, freeze, thaw, sleep, waitFor, type Proc } from '../support/processes';

/** Group commit of messages and bulk user writes against a real FerretDB: batching, duplicates, a dead and a frozen database. */

describe('MongoDB write batching (FerretDB)', () => {
  let db: Awaited<ReturnType<typeof startFerretDb>>;
  let ferret: Proc;
  let conn: mongoose.Connection;

  beforeAll(async () => {
    db = await startFerretDb();
    ferret = db.proc;
    conn = await mongoose.createConnection(db.url('writes'), { serverSelectionTimeoutMS: 3000, bufferCommands: false }).asPromise();
    await messageModel(conn).init(); // the unique (userId, clientMsgId) index
  });

  afterAll(async () => {
    if (ferret) thaw(ferret);
    await conn?.close().catch(() => undefined);
    await db?.stop();
  });

  const fields = (i: number, clientMsgId = `c${i}`, room = 'r1') => ({ room, userId: `u${i % 7}`, text: `hello ${i}`, clientMsgId, ts: Date.now(), instance: 't' });
  const writer = (onBatch?: (n: number) => void, onLateWrite?: (docs: MessageDoc[]) => void, deadlineMs = 5000) =>
    new MessageWriter(messageModel(conn), { maxBatch: 256, deadlineMs, onBatch, onLateWrite });

  test('a burst is stored in a few batches, every message once', async () => {
    const batches: number[] = [];
    const w = writer((n) => batches.push(n));
    const stored = await Promise.all(Array.from({ length: 300 }, (_, i) => w.insert(fields(i))));

    expect(new Set(stored.map((d) => d._id.toString())).size).toBe(300);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(300);
    // The first message goes alone (nothing was in flight), the rest wait for it and go together.
    expect(batches.length).toBeLessThanOrEqual(4);
    expect(await messageModel(conn).countDocuments({ room: 'r1' })).toBe(300);
  });

  test('a duplicate in a batch fails alone with code 11000', async () => {
    const w = writer();
    const results = await Promise.allSettled([
      w.insert({ ...fields(1000, 'dup-1'), userId: 'dupuser' }),
      w.insert({ ...fields(1001, 'dup-1'), userId: 'dupuser' }),
      w.insert({ ...fields(1002, 'dup-2'), userId: 'dupuser' }),
      w.insert({ ...fields(1003, 'dup-1'), userId: 'dupuser' }),
    ]);
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: number }).code));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(2);
    expect(codes.filter((c) => c === 11000)).toHaveLength(2);
    expect(await messageModel(conn).countDocuments({ userId: 'dupuser' })).toBe(2);
  });

  test('when the database is gone every waiting message fails, and none is reported stored', async () => {
    const port = await freePort(); // nothing listens here
    const dead = mongoose.createConnection(`mongodb://127.0.0.1:${port}/writes`, { serverSelectionTimeoutMS: 500, bufferCommands: false });
    dead.on('error', () => undefined);
    const w = new MessageWriter(messageModel(dead), { maxBatch: 256, deadlineMs: 5000 });
    const started = Date.now();
    const results = await Promise.allSettled([w.insert(fields(1)), w.insert(fields(2))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(Date.now() - started).toBeLessThan(5000);
    await dead.close().catch(() => undefined);
  });

  test('a frozen database: senders are answered by the deadline, and what is stored later is handed over as a late write', async () => {
    const late: MessageDoc[] = [];
    const w = writer(undefined, (docs) => late.push(...docs), 1000);
    await w.insert(fields(1, 'warm', 'frozen')); // the connection is open and idle
    let results: PromiseSettledResult<MessageDoc>[];
    let started = Date.now();
    try {
      await freeze(ferret);
      started = Date.now();
      const inFlight = w.insert(fields(2, 'f-2', 'frozen'));
      await sleep(100); // f-2 is on the wire; f-3 queues behind it
      results = await Promise.allSettled([inFlight, w.insert(fields(3, 'f-3', 'frozen'))]);
    } finally {
      thaw(ferret);
    }
    const waited = Date.now() - started;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof MessageWriteTimeout)).toBe(true);
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(4000); // f-3 too: its deadline counts from its send, queueing included

    // f-2 went out at once (nothing was in flight); f-3 queued behind it and was answered
    // by its own deadline all the same. Thawed, the insert under way completes: f-2 is
    // stored and reported late; f-3 is never written (its sender resends it).
    await waitFor('late write', () => late.length === 1, 30_000);
    expect(late.map((d) => d.clientMsgId)).toEqual(['f-2']);
    await sleep(500);
    expect((await messageModel(conn).find({ room: 'frozen' }).lean<MessageDoc[]>()).map((d) => d.clientMsgId).sort()).toEqual(['f-2', 'warm']);
    // The writer keeps working afterwards.
    const after = await w.insert(fields(4, 'f-4', 'frozen'));
    expect(after.clientMsgId).toBe('f-4');
  });

  test('a database killed under an insert: the senders are told it failed, never that it was stored', async () => {
    // Its own FerretDB: this one dies. The driver reports a lost connection as a
    // bulk write error with an empty writeErrors list, which must not read as "all stored".
    const killed = await startFerretDb('ferretdb-killed');
    const doomed = killed.proc;
    const c = await mongoose.createConnection(killed.url('writes'), { serverSelectionTimeoutMS: 2000, bufferCommands: false }).asPromise();
    c.on('error', () => undefined);
    try {
      const w = new MessageWriter(messageModel(c), { maxBatch: 256, deadlineMs: 10_000 });
      await w.insert(fields(1, 'k-1', 'killed'));
      await freeze(doomed); // the next insert is sent and waits for its answer...
      const pending = Promise.allSettled([w.insert(fields(2, 'k-2', 'killed')), w.insert(fields(3, 'k-3', 'killed'))]);
      await sleep(300);
      doomed.child.kill('SIGKILL'); // ...which never comes: the connection closes under it
      const results = await pending;
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    } finally {
      await c.close(true).catch(() => undefined);
      await killed.stop();
    }
  });

  describe('UserWriteQueue', () => {
    const userSchema = new Schema<UserDoc>(
      { _id: String, name: String, createdAt: Number, lastLoginAt: Number, lastSeen: Number },
      { versionKey: false, collection: 'users' },
    );
    const users = () => (conn.models.User as mongoose.Model<UserDoc>) ?? conn.model<UserDoc>('User', userSchema);
    /** A queue with roomy defaults; each test overrides what it is about. */
    const userQueue = (o: Partial<UserWriteQueueOptions>) =>
      new UserWriteQueue(users(), {
        maxBatch: 500,
        maxPending: 10_000,
        deadlineMs: 20_000,
        loginIntervalMs: 60_000,
        onFlushed: () => undefined,
        onError: () => undefined,
        onDropped: () => undefined,
        ...o,
      });

    test('gatherMs: logins arriving one by one within the interval are stored by one write', async () => {
      const flushed: string[][] = [];
      const q = userQueue({ gatherMs: 1500, onFlushed: (ids) => void flushed.push(ids) });
      for (let i = 0; i < 5; i++) {
        q.login(`trickle-${i}`, `name ${i}`, Date.now());
        await sleep(20);
      }
      await waitFor('the gathered write', () => flushed.length > 0, 10_000);
      expect(flushed).toEqual([['trickle-0', 'trickle-1', 'trickle-2', 'trickle-3', 'trickle-4']]);
      expect(await users().countDocuments({ _id: /^trickle-/ })).toBe(5);
      // Without it each login is written on its own as soon as the queue is idle.
      const alone: string[][] = [];
      const eager = userQueue({ onFlushed: (ids) => void alone.push(ids) });
      for (let i = 0; i < 3; i++) {
        eager.login(`eager-${i}`, `name ${i}`, Date.now());
        await waitFor(`eager-${i} written`, () => alone.flat().includes(`eager-${i}`), 10_000);
      }
      expect(alone).toEqual([['eager-0'], ['eager-1'], ['eager-2']]);
    });

    test('thousands of logins are coalesced per user and stored in bulk; lastSeen only moves forward', async () => {
      const flushed: string[][] = [];
      const errors: Error[] = [];
      const q = userQueue({ deadlineMs: 10_000, onFlushed: (ids) => void flushed.push(ids), onError: (err) => errors.push(err) });
      const t0 = Date.now();
      for (let i = 0; i < 2000; i++) q.login(`bulk-${i % 1500}`, `name ${i}`, t0 + i);
      q.seen('bulk-1', t0 + 50_000);
      q.seen('bulk-1', t0 + 40_000); // older: ignored
      await q.drain();

      expect(errors).toEqual([]);
      expect(await users().countDocuments({ _id: /^bulk-/ })).toBe(1500);
      // 1,500 users in bulk writes of at most 500, not 2,000 upserts.
      const writes = flushed.length;
      expect(writes).toBeLessThanOrEqual(5);
      expect(flushed.flat()).toHaveLength(1500);
      // The second login of a user wins (the later values).
      const u10 = await users().findById('bulk-10').lean<UserDoc>();
      expect(u10).toMatchObject({ name: 'name 1510', lastLoginAt: t0 + 1510, createdAt: t0 + 1510 });
      expect((await users().findById('bulk-1').lean<UserDoc>())?.lastSeen).toBe(t0 + 50_000);

      q.seen('bulk-1', t0 + 1); // an older offline event, in a later flush: lastSeen stays
      await q.drain();
      expect((await users().findById('bulk-1').lean<UserDoc>())?.lastSeen).toBe(t0 + 50_000);
      // createdAt is set once: a later login keeps it.
      q.login('bulk-10', 'renamed', t0 + 99_000);
      await q.drain();
      expect(await users().findById('bulk-10').lean<UserDoc>()).toMatchObject({ name: 'renamed', createdAt: t0 + 1510, lastLoginAt: t0 + 99_000 });
      // The same user with the same name again within the interval: not written (a wave of returning users costs nothing).
      const before = flushed.length;
      q.login('bulk-10', 'renamed', t0 + 100_000);
      await q.drain();
      expect(flushed.length).toBe(before);
      expect((await users().findById('bulk-10').lean<UserDoc>())?.lastLoginAt).toBe(t0 + 99_000);
    });

    test('a wave of 300 returning users is stored (updates in small bulks: one bulk of 100 updates hangs FerretDB)', async () => {
      const errors: Error[] = [];
      const q = userQueue({ onError: (err) => errors.push(err) });
      for (let i = 0; i < 300; i++) q.login(`wave-${i}`, 'first', 1000);
      await q.drain();
      const started = Date.now();
      for (let i = 0; i < 300; i++) {
        q.login(`wave-${i}`, 'again', 2000);
        q.seen(`wave-${i}`, 3000);
      }
      await q.drain();
      expect(errors).toEqual([]);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(await users().countDocuments({ _id: /^wave-/, name: 'again', lastLoginAt: 2000, lastSeen: 3000 })).toBe(300);
    });

    test('update bulks keep the database busy at most maxUpdateShare of the time; drain() cuts a pause short', async () => {
      const lastSeen = (at: number) => users().countDocuments({ _id: /^paced-/, lastSeen: at });
      const paced: number[] = [];
      const share = 0.25;
      const q = userQueue({ maxUpdateShare: share, onUpdateBulk: (s) => paced.push(s * 1000) });
      for (let i = 0; i < 100; i++) q.login(`paced-${i}`, 'first', 1000);
      await q.drain();
      expect(paced).toEqual([]); // new users are inserted, not updated

      const started = Date.now();
      for (let i = 0; i < 100; i++) q.seen(`paced-${i}`, 5000);
      await waitFor('every lastSeen', async () => (await lastSeen(5000)) === 100, 120_000);
      const took = Date.now() - started;
      expect(paced).toHaveLength(4); // 100 updates in bulks of 25
      // Each of the first three bulks was followed by a pause of three times its length.
      expect(took).toBeGreaterThanOrEqual((0.9 * (paced[0] + paced[1] + paced[2])) / share);

      // A share of 1 % would pause 99 times each bulk; drain() (shutdown) ends the pause at once.
      const slow: number[] = [];
      const q2 = userQueue({ maxUpdateShare: 0.01, onUpdateBulk: (s) => slow.push(s * 1000) });
      for (let i = 0; i < 100; i++) q2.seen(`paced-${i}`, 6000);
      await waitFor('first bulk', () => slow.length > 0, 60_000, 5);
      const draining = Date.now();
      await q2.drain();
      expect(Date.now() - draining).toBeLessThan(0.5 * 99 * slow[0]);
      expect(slow).toHaveLength(4);
      expect(await lastSeen(6000)).toBe(100);
    });

    test('a full queue drops new users instead of growing', async () => {
      const dropped: string[] = [];
      try {
        await freeze(ferret); // nothing gets written while we fill it
        const q = userQueue({ maxBatch: 10, maxPending: 20, deadlineMs: 500, onDropped: (id) => dropped.push(id) });
        for (let i = 0; i < 50; i++) q.login(`full-${i}`, 'x', Date.now());
        await sleep(50);
        // The first flush took up to 10; 20 more wait; the rest are dropped.
        expect(dropped.length).toBeGreaterThanOrEqual(20);
        expect(dropped.length).toBeLessThanOrEqual(30);
      } finally {
        thaw(ferret);
      }
    });
  });
});
