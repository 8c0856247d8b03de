import type { Model } from 'mongoose';
import { AppError } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { MongoConnection } from '../infra/mongo';
import type { Order, OrderStatus, OrderTransition } from '@switchboard/protocol';
import { orderModel, transitionModel, type OrderDoc, type TransitionDoc } from './order.model';
import type { OutboxEntry, StoredOrder } from './store';

/** Where a page of orders ends: the next page starts after this order (newest first: createdAt, then id, descending). */
export interface Cursor {
  createdAt: number;
  id: string;
}

export interface OrderPage {
  orders: Order[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next: Cursor | null;
}

/** Whose orders a page lists: a customer's, a provider's (those it accepted), or every active one. */
export type OrderScope = { customerId: string } | { acceptedBy: string } | { active: true };

const ACTIVE_STATUSES: ReadonlySet<OrderStatus> = new Set(['searching', 'offered', 'assigned']);
const UNAVAILABLE_MESSAGE = 'order history is unavailable (MongoDB), try again shortly';
const DUPLICATE_KEY = 11000;

/**
 * Orders and their transitions in MongoDB: written from the outbox (outbox.ts),
 * read by the HTTP routes, by order:get once Redis has let an order go, and by
 * a restore. Queries keep to one equality per read (plus the page's cursor),
 * which every MongoDB-wire store answers without scanning other users' orders.
 */
export class OrderArchive {
  private readonly orders: Model<OrderDoc>;
  private readonly transitions: Model<TransitionDoc>;

  constructor(
    private readonly mongo: MongoConnection,
    private readonly log: Logger,
  ) {
    this.orders = orderModel(mongo.connection);
    this.transitions = transitionModel(mongo.connection);
  }

  isUp(): boolean {
    return this.mongo.isUp();
  }

  /**
   * Stores a batch of outbox entries, any number of times: first each order's newest state in
   * the batch (an upsert that replaces the same or an older seq only), then every transition
   * (by id `<orderId>:<seq>:<stream entry id>`, so a replay stores nothing twice). The same
   * seq twice from different entries means Redis forgot a step MongoDB has (a failover that
   * lost the last writes): the later entry, which is Redis's truth now, replaces the order and
   * both transitions stay in the history. Orders before transitions: after a crash between
   * the two, a restore resumes the order's seq past the missing transitions rather than
   * reusing their numbers. Throws when MongoDB did not take it all; the caller keeps the
   * entries and tries again.
   */
  async write(entries: OutboxEntry[]): Promise<void> {
    // The batch is in stream order: on the same seq, the later entry is the newer.
    const newest = new Map<string, OutboxEntry>();
    for (const e of entries) {
      const seen = newest.get(e.order.id);
      if (!seen || e.order.seq >= seen.order.seq) newest.set(e.order.id, e);
    }
    await this.upsertSkippingNewer([...newest.values()].map((e) => ({
      updateOne: { filter: { _id: e.order.id, seq: { $lte: e.order.seq } }, update: { $set: orderDoc(e.order, e.tried) }, upsert: true },
    })));
    try {
      // lean: whole documents already, and the bulk error's indexes then match the batch.
      await this.transitions.insertMany(entries.map(transitionDoc), { ordered: false, lean: true });
    } catch (err) {
      if (!onlyDuplicates(err)) throw err;
    }
  }

  /**
   * An ordered bulk of guarded upserts. One whose order holds a newer seq already fails with a
   * duplicate key (the guard did not match, the insert met the existing id): it is skipped and
   * the rest sent again. Ordered, because FerretDB stops at the first failure even when told not to.
   */
  private async upsertSkippingNewer(ops: Parameters<Model<OrderDoc>['bulkWrite']>[0]): Promise<void> {
    let rest = ops;
    while (rest.length > 0) {
      try {
        await this.orders.bulkWrite(rest, { ordered: true });
        return;
      } catch (err) {
        const first = firstWriteError(err);
        if (first?.code !== DUPLICATE_KEY) throw err;
        rest = rest.slice(first.index + 1);
      }
    }
  }

  /** A page of orders, newest first. */
  async page(scope: OrderScope, limit: number, after?: Cursor): Promise<OrderPage> {
    const docs = await this.find(scope, limit + 1, after);
    return pageOf(docs, limit);
  }

  /** A user's orders as customer and as the provider that accepted them, newest first. */
  async ordersOf(userId: string, limit: number, after?: Cursor): Promise<OrderPage> {
    // Two one-equality reads of limit + 1 each hold the union's first limit + 1.
    const [asCustomer, asProvider] = await Promise.all([this.find({ customerId: userId }, limit + 1, after), this.find({ acceptedBy: userId }, limit + 1, after)]);
    const merged = [...new Map([...asCustomer, ...asProvider].map((d) => [d._id, d])).values()].sort(newestFirst);
    return pageOf(merged, limit);
  }

  async get(orderId: string): Promise<StoredOrder | null> {
    const doc = await this.run(() => this.orders.findOne({ _id: orderId }).lean<OrderDoc>());
    return doc ? storedOrderOf(doc) : null;
  }

  /** Every stored transition of an order, in order. */
  async history(orderId: string): Promise<OrderTransition[]> {
    const docs = await this.run(() => this.transitions.find({ orderId }).sort({ seq: 1, at: 1 }).lean<TransitionDoc[]>());
    return docs.map((d) => ({ seq: d.seq, step: d.step, from: d.from ?? null, to: d.to, providerId: d.providerId ?? null, at: d.at }));
  }

  /**
   * What a restore brings back, in pages: active orders (searching, offered, assigned) and
   * unassigned ones (restore.lua leaves out those older than their Redis lifetime).
   */
  async *restorable(pageSize: number): AsyncGenerator<Array<{ order: StoredOrder; tried: string[] }>> {
    for (const scope of [{ active: true }, { status: 'unassigned' }] as const) {
      let after: Cursor | undefined;
      for (;;) {
        const docs = await this.find(scope, pageSize, after);
        if (docs.length > 0) yield docs.map((d) => ({ order: storedOrderOf(d), tried: d.tried ?? [] }));
        if (docs.length < pageSize) break;
        const last = docs.at(-1)!;
        after = { createdAt: last.createdAt, id: last._id };
      }
    }
  }

  private find(scope: OrderScope | { status: OrderStatus }, limit: number, after?: Cursor): Promise<OrderDoc[]> {
    const filter = after
      ? { ...scope, $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, _id: { $lt: after.id } }] }
      : scope;
    return this.run(() => this.orders.find(filter).sort({ createdAt: -1, _id: -1 }).limit(limit).lean<OrderDoc[]>());
  }

  /** MongoDB unreachable or failing: UNAVAILABLE (the details go to the log). */
  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (!this.mongo.isUp()) throw new AppError('UNAVAILABLE', UNAVAILABLE_MESSAGE);
    try {
      return await op();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'dispatch order read failed');
      throw new AppError('UNAVAILABLE', UNAVAILABLE_MESSAGE);
    }
  }
}

function orderDoc(order: StoredOrder, tried: string[]): Omit<OrderDoc, '_id'> {
  return {
    customerId: order.customerId,
    status: order.status,
    active: ACTIVE_STATUSES.has(order.status),
    pickup: order.pickup,
    radiusKm: order.radiusKm,
    providerId: order.providerId,
    acceptedBy: order.acceptedBy,
    attempt: order.attempt,
    offerExpiresAt: order.offerExpiresAt,
    createdAt: order.createdAt,
    updatedAt: order.updatedAt,
    seq: order.seq,
    tried,
  };
}

function transitionDoc(e: OutboxEntry): TransitionDoc {
  return {
    _id: `${e.order.id}:${e.order.seq}:${e.streamId}`,
    orderId: e.order.id,
    seq: e.order.seq,
    step: e.step,
    from: e.from || null,
    to: e.order.status,
    providerId: e.provider || null,
    at: e.order.updatedAt,
  };
}

/** Who may read an order: its customer, the provider holding it, or the provider that accepted it. */
export const isPartyTo = (o: StoredOrder, userId: string) => o.customerId === userId || o.providerId === userId || o.acceptedBy === userId;

/** The wire shape of a stored order. */
export function toOrder(o: StoredOrder): Order {
  return {
    id: o.id,
    customerId: o.customerId,
    status: o.status,
    pickup: o.pickup,
    radiusKm: o.radiusKm,
    providerId: o.providerId,
    attempt: o.attempt,
    offerExpiresAt: o.offerExpiresAt,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
  };
}

function storedOrderOf(d: OrderDoc): StoredOrder {
  return {
    id: d._id,
    customerId: d.customerId,
    status: d.status,
    pickup: { lat: d.pickup.lat, lng: d.pickup.lng },
    radiusKm: d.radiusKm,
    providerId: d.providerId ?? null,
    attempt: d.attempt,
    offerExpiresAt: d.offerExpiresAt ?? null,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    seq: d.seq,
    acceptedBy: d.acceptedBy ?? null,
  };
}

const newestFirst = (a: OrderDoc, b: OrderDoc) => b.createdAt - a.createdAt || (a._id < b._id ? 1 : a._id > b._id ? -1 : 0);

function pageOf(docs: OrderDoc[], limit: number): OrderPage {
  const shown = docs.slice(0, limit);
  const last = shown.at(-1);
  return { orders: shown.map((d) => toOrder(storedOrderOf(d))), next: docs.length > limit && last ? { createdAt: last.createdAt, id: last._id } : null };
}

/** The write errors of a bulk failure ([] for a failure without any: a lost connection, a timeout). */
function writeErrors(err: unknown): Array<{ index: number; code?: number }> {
  const { writeErrors: listed } = err as { writeErrors?: unknown };
  const list = (Array.isArray(listed) ? listed : listed ? [listed] : []) as Array<{ index: number; code?: number; err?: { index: number; code?: number } }>;
  return list.map((e) => ({ index: e.err?.index ?? e.index, code: e.err?.code ?? e.code }));
}

function firstWriteError(err: unknown): { index: number; code?: number } | undefined {
  return writeErrors(err).sort((a, b) => a.index - b.index)[0];
}

/** True when every document the insert refused was a duplicate (stored before), and it said which. */
function onlyDuplicates(err: unknown): boolean {
  const listed = writeErrors(err);
  return listed.length > 0 && listed.every((e) => e.code === DUPLICATE_KEY) && !(err as { writeConcernError?: unknown }).writeConcernError;
}
