import { spawn } from 'node:child_process';
import fs from 'node:fs';
import mongoose, { Schema } from 'mongoose';
import { messageModel, type MessageDoc } from '../../src/chat/message.model';
import { startFerretDb } from '../support/cluster';
import { killGroup, sleep } from '../support/processes';

/**
 * The local MongoDB-wire stand-in itself (deploy/images/ferretdb: FerretDB on a
 * PostgreSQL of its own), as the replicas use it: three clients with the
 * service's pool size writing at once, a crash of both processes, and the
 * PostgreSQL going with its FerretDB.
 */
const REPLICAS = 3;
const MONGO_POOL_SIZE = 10; // the service's default (README)

interface CounterDoc {
  _id: string;
  n: number;
}
const counterSchema = new Schema<CounterDoc>({ _id: String, n: Number }, { versionKey: false, collection: 'counters' });

function connect(url: string): Promise<mongoose.Connection> {
  return mongoose.createConnection(url, { maxPoolSize: MONGO_POOL_SIZE, serverSelectionTimeoutMS: 5000, bufferCommands: false }).asPromise();
}

/** Rejects after `ms`: a wedged database never answers, so the test must not wait for it. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (wedged?)`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

describe('MongoDB-wire stand-in (FerretDB on PostgreSQL)', () => {
  test('three replicas sending bulks of 25 updates at once do not wedge it', async () => {
    const db = await startFerretDb('ferretdb-bulks');
    const conns: mongoose.Connection[] = [];
    try {
      for (let r = 0; r < REPLICAS; r++) conns.push(await connect(db.url('bulks')));
      const counters = conns.map((c) => c.model<CounterDoc>('Counter', counterSchema));
      await counters[0].insertMany(Array.from({ length: 25 * REPLICAS }, (_, i) => ({ _id: `c-${i}`, n: 0 })));
      // Each replica's users are its own 25; every round, all three send their bulk
      // at the same moment (FerretDB holds a PostgreSQL connection per update of a
      // bulk until the bulk ends: the pool must hold all of them at once).
      const rounds = 4;
      await within(60_000, 'concurrent bulks', Promise.all(counters.map(async (model, r) => {
        for (let round = 0; round < rounds; round++) {
          const ops = Array.from({ length: 25 }, (_, i) => ({ updateOne: { filter: { _id: `c-${r * 25 + i}` }, update: { $inc: { n: 1 } } } }));
          const res = await model.bulkWrite(ops, { ordered: false });
          expect(res.modifiedCount).toBe(25);
        }
      })));
      expect(await within(10_000, 'count', counters[0].countDocuments({ n: rounds }))).toBe(25 * REPLICAS);
      // And it still answers afterwards.
      expect(await within(10_000, 'ping', conns[0].db!.admin().ping())).toMatchObject({ ok: 1 });
    } finally {
      await Promise.allSettled(conns.map((c) => c.close(true)));
      await db.stop();
    }
  });

  test('acknowledged messages survive a crash of FerretDB and PostgreSQL together', async () => {
    let db = await startFerretDb('ferretdb-crash');
    let conn = await connect(db.url('crash'));
    try {
      const messages = messageModel(conn);
      await messages.init();
      const docs = Array.from({ length: 200 }, (_, i) => ({ room: 'r', userId: 'u', text: `m${i}`, clientMsgId: `c-${i}`, ts: i, instance: 'test' }));
      for (let i = 0; i < docs.length; i += 20) await messages.insertMany(docs.slice(i, i + 20), { ordered: false, lean: true });
      await conn.close(true);
      // SIGKILL to the whole process group: neither process gets to flush or shut down.
      killGroup(db.proc.child, 'SIGKILL');
      await db.proc.exited;
      await db.stop({ keepData: true });
      db = await startFerretDb('ferretdb-crash', { dataDir: db.dataDir });
      conn = await connect(db.url('crash'));
      const stored = await within(30_000, 'find', messageModel(conn).find({ room: 'r' }).sort({ ts: 1 }).lean<MessageDoc[]>());
      expect(stored.map((d) => d.clientMsgId)).toEqual(docs.map((d) => d.clientMsgId));
      // The unique index is still enforced after recovery.
      await expect(messageModel(conn).create(docs[0])).rejects.toMatchObject({ code: 11000 });
    } finally {
      await conn.close(true).catch(() => undefined);
      await db.stop();
    }
  });

  test('a restart is not refused by the lock file of a killed PostgreSQL whose pid another process has now', async () => {
    // What a killed container leaves: postmaster.pid names a pid that, in the new
    // container's PID namespace, is some other process of the same user (often a
    // thread of FerretDB itself), and PostgreSQL takes that for a running server.
    let db = await startFerretDb('ferretdb-stale-lock');
    let conn = await connect(db.url('lock'));
    const squatter = spawn('sleep', ['120'], { uid: fs.statSync(`${db.dataDir}/pgdata`).uid, gid: fs.statSync(`${db.dataDir}/pgdata`).gid, stdio: 'ignore' });
    try {
      await messageModel(conn).create({ room: 'r', userId: 'u', text: 'kept', clientMsgId: 'kept', ts: 1, instance: 'test' });
      await conn.close(true);
      await db.stop({ keepData: true });
      fs.writeFileSync(`${db.dataDir}/pgdata/postmaster.pid`, `${squatter.pid}\n${db.dataDir}/pgdata\n0\n5432\n/tmp\n\n0 0\nready\n`);
      db = await startFerretDb('ferretdb-stale-lock', { dataDir: db.dataDir });
      conn = await connect(db.url('lock'));
      expect((await within(30_000, 'find', messageModel(conn).find({ room: 'r' }).lean<MessageDoc[]>())).map((d) => d.text)).toEqual(['kept']);
    } finally {
      squatter.kill('SIGKILL');
      await conn.close(true).catch(() => undefined);
      await db.stop();
    }
  });

  test('FerretDB exits with a failure when its PostgreSQL dies under it', async () => {
    const db = await startFerretDb('ferretdb-pg-died');
    try {
      const pgPid = Number(fs.readFileSync(`${db.dataDir}/pgdata/postmaster.pid`, 'utf8').split('\n')[0]);
      process.kill(pgPid, 'SIGKILL');
      // A supervisor (Docker's restart policy, a test) must see a failure, not a clean stop.
      expect(await within(30_000, 'FerretDB exit', db.proc.exited)).toBe(1);
      expect(db.proc.output()).toContain('PostgreSQL stopped under FerretDB');
    } finally {
      await db.stop();
    }
  });

  test('its PostgreSQL stops with it, also when FerretDB alone is killed', async () => {
    const db = await startFerretDb('ferretdb-orphan');
    try {
      const pgPid = Number(fs.readFileSync(`${db.dataDir}/pgdata/postmaster.pid`, 'utf8').split('\n')[0]);
      expect(pgPid).toBeGreaterThan(0);
      db.proc.child.kill('SIGKILL'); // FerretDB only, not its process group
      await db.proc.exited;
      const deadline = Date.now() + 30_000;
      let alive = true;
      while (alive && Date.now() < deadline) {
        try {
          process.kill(pgPid, 0);
          await sleep(100);
        } catch {
          alive = false;
        }
      }
      expect(alive).toBe(false);
    } finally {
      await db.stop();
    }
  });
});
