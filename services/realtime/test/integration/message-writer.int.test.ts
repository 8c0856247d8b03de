import fs from 'node:fs';
import path from 'node:path';
import mongoose from 'mongoose';
import { MessageWriter } from '../../src/chat/message-writer';
import { messageModel } from '../../src/chat/message.model';
import { REPO_ROOT, canConnect, freePort, requireBinary, startProcess, stopProcess, tempDir, waitFor, type Proc } from '../support/processes';

/** Group commit against a real FerretDB: batching, per-message duplicates, and a dead database. */
const FERRETDB_BIN = process.env.FERRETDB_BIN ?? path.join(REPO_ROOT, '.tools', 'bin', 'ferretdb');

describe('MessageWriter (FerretDB)', () => {
  let ferret: Proc;
  let dataDir: string;
  let conn: mongoose.Connection;

  beforeAll(async () => {
    requireBinary(FERRETDB_BIN, 'run `make test-deps` (builds FerretDB into .tools/bin)');
    const port = await freePort();
    dataDir = tempDir('ferretdb');
    ferret = startProcess('ferretdb', FERRETDB_BIN, ['-listen', `127.0.0.1:${port}`, '-data', dataDir]);
    await waitFor('ferretdb', () => canConnect(port));
    conn = await mongoose.createConnection(`mongodb://127.0.0.1:${port}/writer`, { serverSelectionTimeoutMS: 3000 }).asPromise();
    await messageModel(conn).init(); // the unique (userId, clientMsgId) index
  });

  afterAll(async () => {
    await conn?.close().catch(() => undefined);
    if (ferret) await stopProcess(ferret);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const fields = (i: number, clientMsgId = `c${i}`) => ({ room: 'r1', userId: `u${i % 7}`, text: `hello ${i}`, clientMsgId, ts: Date.now(), instance: 't' });

  test('a burst is stored in a few batches, every message once', async () => {
    const batches: number[] = [];
    const writer = new MessageWriter(messageModel(conn), 256, (n) => batches.push(n));
    const stored = await Promise.all(Array.from({ length: 300 }, (_, i) => writer.insert(fields(i))));

    expect(new Set(stored.map((d) => d._id.toString())).size).toBe(300);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(300);
    // The first message goes alone (nothing was in flight), the rest wait for it and go together.
    expect(batches.length).toBeLessThanOrEqual(4);
    expect(await messageModel(conn).countDocuments({ room: 'r1' })).toBe(300);
  });

  test('a duplicate in a batch fails alone with code 11000', async () => {
    const writer = new MessageWriter(messageModel(conn));
    const results = await Promise.allSettled([
      writer.insert({ ...fields(1000, 'dup-1'), userId: 'dupuser' }),
      writer.insert({ ...fields(1001, 'dup-1'), userId: 'dupuser' }),
      writer.insert({ ...fields(1002, 'dup-2'), userId: 'dupuser' }),
      writer.insert({ ...fields(1003, 'dup-1'), userId: 'dupuser' }),
    ]);
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: number }).code));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(2);
    expect(codes.filter((c) => c === 11000)).toHaveLength(2);
    expect(await messageModel(conn).countDocuments({ userId: 'dupuser' })).toBe(2);
  });

  test('when the database is gone every waiting message fails, and none is reported stored', async () => {
    const port = await freePort(); // nothing listens here
    const dead = mongoose.createConnection(`mongodb://127.0.0.1:${port}/writer`, { serverSelectionTimeoutMS: 500, bufferCommands: false });
    dead.on('error', () => undefined);
    const writer = new MessageWriter(messageModel(dead));
    const results = await Promise.allSettled([writer.insert(fields(1)), writer.insert(fields(2))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await dead.close().catch(() => undefined);
  });
});
