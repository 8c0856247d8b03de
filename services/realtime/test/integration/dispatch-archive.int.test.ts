import type { OrderStatus, OrderTransitionStep } from '@switchboard/protocol';
import { OrderArchive } from '../../src/dispatch/archive';
import { orderModel, transitionModel } from '../../src/dispatch/order.model';
import type { OutboxEntry, StoredOrder } from '../../src/dispatch/store';
import { createLogger } from '../../src/infra/logger';
import { createMetrics } from '../../src/infra/metrics';
import { MongoConnection } from '../../src/infra/mongo';
import { startFerretDb } from '../support/cluster';
import { waitFor } from '../support/processes';

/**
 * The MongoDB side of the dispatch outbox against a real MongoDB-wire server: a batch written
 * twice, or an older batch after a newer one, stores every transition once and never moves an
 * order back; pages and the restore's reads.
 */
describe('dispatch order archive (FerretDB)', () => {
  let db: Awaited<ReturnType<typeof startFerretDb>>;
  let mongo: MongoConnection;
  let archive: OrderArchive;

  beforeAll(async () => {
    db = await startFerretDb();
    mongo = new MongoConnection(db.url('archive'), 3000, createLogger('silent', 'test'), createMetrics('test'));
    mongo.start();
    await waitFor('mongo connected', () => mongo.isUp());
    archive = new OrderArchive(mongo, createLogger('silent', 'test'));
    await Promise.all([orderModel(mongo.connection).init(), transitionModel(mongo.connection).init()]);
  });

  afterAll(async () => {
    await mongo?.close();
    await db?.stop();
  });

  let stream = 0;
  /** The transitions of one order, as the outbox would carry them: each step's order after it. */
  function lifecycle(id: string, customerId: string, createdAt: number, steps: Array<[OrderTransitionStep, OrderStatus, string | null]>): OutboxEntry[] {
    let from: OrderStatus | '' = '';
    let acceptedBy: string | null = null;
    return steps.map(([step, status, providerId], i) => {
      if (status === 'assigned') acceptedBy = providerId;
      const order: StoredOrder = {
        id,
        customerId,
        status,
        pickup: { lat: 1, lng: 2 },
        radiusKm: 5,
        providerId,
        attempt: steps.slice(0, i + 1).filter(([s]) => s === 'offer').length,
        offerExpiresAt: status === 'offered' ? createdAt + 15_000 : null,
        createdAt,
        updatedAt: createdAt + i,
        seq: i + 1,
        acceptedBy,
      };
      const entry: OutboxEntry = { streamId: `${++stream}-0`, order, tried: providerId ? [providerId] : [], step, from, provider: providerId ?? '' };
      from = status;
      return entry;
    });
  }

  const fullLife = (id: string, customer: string, provider: string, createdAt: number) =>
    lifecycle(id, customer, createdAt, [
      ['create', 'searching', null],
      ['offer', 'offered', provider],
      ['accept', 'assigned', provider],
      ['complete', 'completed', provider],
    ]);

  test('a replayed or late batch stores each transition once and never moves an order back', async () => {
    const [e1, e2, e3, e4] = fullLife('o-replay', 'cara', 'pia', 1000);
    await archive.write([e3, e4]);
    await archive.write([e1, e2, e3]); // an older batch, replayed after a writer died before deleting it
    expect(await archive.get('o-replay')).toMatchObject({ status: 'completed', seq: 4, providerId: 'pia', acceptedBy: 'pia', attempt: 1 });
    await archive.write([e4]);
    expect(await archive.get('o-replay')).toMatchObject({ status: 'completed', seq: 4 });
    expect((await archive.history('o-replay')).map((t) => [t.seq, t.step, t.from, t.to])).toEqual([
      [1, 'create', null, 'searching'],
      [2, 'offer', 'searching', 'offered'],
      [3, 'accept', 'offered', 'assigned'],
      [4, 'complete', 'assigned', 'completed'],
    ]);
    expect(await transitionModel(mongo.connection).countDocuments({ orderId: 'o-replay' })).toBe(4);
  });

  test('a step Redis forgot (a failover lost it after MongoDB had it): the next one, with the same seq, replaces it and both stay in the history', async () => {
    const [e1, e2, forgotten] = lifecycle('o-failover', 'cara', 4000, [
      ['create', 'searching', null],
      ['offer', 'offered', 'pia'],
      ['accept', 'assigned', 'pia'],
    ]);
    await archive.write([e1, e2, forgotten]);
    // Redis lost the accept; the provider declined instead, and that change got seq 3 again.
    const decline: OutboxEntry = {
      ...forgotten,
      streamId: `${++stream}-0`,
      step: 'decline',
      order: { ...forgotten.order, status: 'searching', providerId: null, acceptedBy: null, updatedAt: forgotten.order.updatedAt + 5 },
    };
    await archive.write([decline]);
    await archive.write([forgotten, decline]); // and a replay of both changes nothing
    expect(await archive.get('o-failover')).toMatchObject({ status: 'searching', seq: 3, acceptedBy: null });
    expect((await archive.history('o-failover')).map((t) => `${t.seq}:${t.step}`)).toEqual(['1:create', '2:offer', '3:accept', '3:decline']);
  });

  test('an order skipped because MongoDB holds a newer state does not stop the rest of its batch', async () => {
    const older = fullLife('o-older', 'cara', 'pia', 2000);
    await archive.write(older.slice(2)); // o-older is at seq 4 already
    const fresh = fullLife('o-fresh', 'cara', 'pia', 2001);
    // One batch: o-older's stale state first, then a new order.
    await archive.write([older[0], fresh[0], fresh[1]]);
    expect(await archive.get('o-older')).toMatchObject({ status: 'completed', seq: 4 });
    expect(await archive.get('o-fresh')).toMatchObject({ status: 'offered', seq: 2, providerId: 'pia', acceptedBy: null });
    expect((await archive.history('o-fresh')).map((t) => t.step)).toEqual(['create', 'offer']);
  });

  test('pages a user’s orders as customer and as provider, newest first, ties broken by id; the restore reads active and unassigned orders', async () => {
    const t = 10_000;
    const entries = [
      ...fullLife('p-a', 'ula', 'vic', t), // ula's as customer
      ...fullLife('p-b', 'wim', 'ula', t + 1), // ula accepted it
      ...lifecycle('p-c', 'ula', t + 1, [['create', 'searching', null], ['offer', 'offered', 'vic']]), // same createdAt as p-b: by id
      ...lifecycle('p-d', 'ula', t + 2, [['create', 'searching', null], ['offer', 'unassigned', null]]),
      ...lifecycle('p-e', 'wim', t + 3, [['create', 'searching', null], ['offer', 'offered', 'ula'], ['decline', 'searching', 'ula']]), // ula only declined it
    ];
    await archive.write(entries);

    const pages: string[][] = [];
    let after;
    do {
      const page = await archive.ordersOf('ula', 2, after);
      pages.push(page.orders.map((o) => o.id));
      after = page.next ?? undefined;
    } while (after);
    expect(pages).toEqual([['p-d', 'p-c'], ['p-b', 'p-a']]);
    expect((await archive.page({ acceptedBy: 'ula' }, 10)).orders.map((o) => o.id)).toEqual(['p-b']);
    expect((await archive.page({ customerId: 'ula' }, 10)).orders.map((o) => o.id)).toEqual(['p-d', 'p-c', 'p-a']);

    const restorable: string[] = [];
    for await (const page of archive.restorable(2)) restorable.push(...page.map((r) => `${r.order.id}:${r.order.status}:${r.tried.join(',')}`));
    expect(restorable.filter((r) => r.startsWith('p-')).sort()).toEqual(['p-c:offered:vic', 'p-d:unassigned:', 'p-e:searching:ula']);
    expect(restorable).toContain('o-fresh:offered:pia');
    expect(restorable.some((r) => r.startsWith('o-replay'))).toBe(false);
  });

  test('answers UNAVAILABLE while MongoDB is away and a write throws, so the outbox keeps its entries', async () => {
    await db.kill();
    try {
      await waitFor('mongo seen down', () => !mongo.isUp(), 20_000);
      await expect(archive.page({ customerId: 'ula' }, 10)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await expect(archive.write(fullLife('o-away', 'cara', 'pia', 3000))).rejects.toThrow();
    } finally {
      await db.start();
    }
    await waitFor('mongo back', () => mongo.isUp(), 30_000);
    await waitFor('the retried write', async () => {
      await archive.write(fullLife('o-away', 'cara', 'pia', 3000));
      return true;
    }, 30_000, 500);
    expect(await archive.get('o-away')).toMatchObject({ status: 'completed', seq: 4 });
  });
});
