import { createHash, randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { AppError } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import type { JobQueue } from '../jobs';
import type { DispatchServerToClientEvents, Offer, Order, Point, Provider } from '@switchboard/protocol';
import { isPartyTo, toOrder, type OrderArchive } from './archive';
import type { DispatchStore, StoredOrder } from './store';
import { orderAfter, settle } from './transitions';

export const OFFER_TIMEOUT_JOB = 'dispatch:offer-timeout';

/** How the service reaches people; the namespace sends to the user's room in /dispatch. */
export interface DispatchNotifier {
  toUser<E extends keyof DispatchServerToClientEvents>(userId: string, event: E, ...payload: Parameters<DispatchServerToClientEvents[E]>): void;
}

export interface OfferTimeoutData {
  orderId: string;
  attempt: number;
}

export const offerOf = (o: Order): Offer => ({ orderId: o.id, pickup: o.pickup, expiresAt: o.offerExpiresAt ?? 0 });

/**
 * The dispatch state machine. Order: searching -> offered -> assigned -> completed, with
 * offered -> searching after a decline, a timeout or the provider going offline, searching ->
 * unassigned when no provider in the radius is left to try, unassigned -> searching when the
 * customer updates the order, and cancelled from any state before completed. transitions.ts
 * holds it as a table, with what each reply of each step's script means (and which AppError).
 *
 * No in-memory authority: every step reads and changes Redis atomically (store.ts), so any
 * replica can serve any step. Offer timeouts are delayed BullMQ jobs scheduled *before* the
 * offer they guard (jobId per order and attempt, so adding one twice is harmless); a timer
 * that finds its order still searching at its attempt (a replica died between a decline and
 * the next offer) runs the search again, so no order is left stranded by a crash.
 */
export class DispatchService {
  constructor(
    private readonly store: DispatchStore,
    private readonly archive: OrderArchive,
    private readonly jobs: JobQueue,
    private readonly redis: RedisConnections,
    private readonly notify: DispatchNotifier,
    private readonly opts: { offerTimeoutMs: number; radiusKm: number; nodeId: string },
    private readonly log: Logger,
  ) {
    jobs.handle(OFFER_TIMEOUT_JOB, (job) => this.onOfferTimeout(job));
  }

  // ---- providers ----

  async online(userId: string, socketId: string, p: Point): Promise<{ provider: Provider; offer?: Offer }> {
    // Going online always answers 'ok' with the provider.
    const provider = (await this.guard(() => this.store.providerUp('online', userId, socketId, this.opts.nodeId, p.lat, p.lng))).provider!;
    // A reconnecting provider gets its pending offer back in the ack.
    if (provider.status === 'offered' && provider.orderId) {
      const order = await this.guard(() => this.store.getOrder(provider.orderId!));
      if (order?.status === 'offered' && order.providerId === userId) return { provider, offer: offerOf(order) };
    }
    return { provider };
  }

  async location(userId: string, socketId: string, p: Point): Promise<Provider> {
    const { tag, provider } = await this.guard(() => this.store.providerUp('location', userId, socketId, this.opts.nodeId, p.lat, p.lng));
    settle('location', tag);
    return provider!;
  }

  /** This replica announces a provider whose socket it holds again, from its memory (Redis came back, or lost its data). */
  async reannounce(userId: string, socketId: string, p: Point): Promise<void> {
    await this.guard(() => this.store.providerUp('online', userId, socketId, this.opts.nodeId, p.lat, p.lng));
  }

  async offline(userId: string): Promise<void> {
    const released = await this.guard(() => this.store.providerDown(userId));
    if (released) {
      this.notify.toUser(released.customerId, 'order:update', released);
      await this.guard(() => this.advance(released.id));
    }
  }

  // ---- customers ----

  /** A new order, searched at once. With a clientOrderId a retry returns the first order (duplicate: true). */
  async create(customerId: string, pickup: Point, radiusKm?: number, clientOrderId?: string): Promise<{ order: Order; duplicate: boolean }> {
    const now = Date.now();
    const order: Order = {
      id: clientOrderId ? createHash('sha256').update(`${customerId}\n${clientOrderId}`).digest('base64url').slice(0, 32) : randomUUID(),
      customerId,
      status: 'searching',
      pickup,
      radiusKm: radiusKm ?? this.opts.radiusKm,
      providerId: null,
      attempt: 0,
      offerExpiresAt: null,
      createdAt: now,
      updatedAt: now,
    };
    // The rescue timer first: if this replica dies before the first offer, another one searches.
    await this.guard(() => this.scheduleTimeout(order.id, 0, now + this.opts.offerTimeoutMs));
    const res = await this.guard(() => this.store.createOrder(order));
    const stored = res.order ?? order;
    const duplicate = res.tag === 'exists';
    // A retry of a create that failed half-way resumes its search; advance() does nothing unless it is searching.
    return { order: (await this.guard(() => this.advance(stored.id))) ?? stored, duplicate };
  }

  /** From Redis while it holds the order, from MongoDB once Redis has let it go (a day after it ended). */
  async get(userId: string, orderId: string): Promise<Order> {
    const live = await this.guard(() => this.store.getOrder(orderId));
    if (live) {
      if (live.customerId !== userId && live.providerId !== userId) throw new AppError('FORBIDDEN', 'not your order');
      return live;
    }
    const stored = await this.archive.get(orderId);
    if (!stored) throw new AppError('NOT_FOUND', `no order ${orderId}`);
    if (!isPartyTo(stored, userId)) throw new AppError('FORBIDDEN', 'not your order');
    return toOrder(stored);
  }

  async update(customerId: string, orderId: string, pickup?: Point, radiusKm?: number): Promise<Order> {
    const res = await this.guard(() => this.store.update(orderId, customerId, pickup, radiusKm));
    const { order } = orderAfter('update', res, orderId);
    this.notify.toUser(customerId, 'order:update', order);
    if (order.status === 'assigned' && order.providerId) this.notify.toUser(order.providerId, 'order:update', order);
    if (res.tag === 'research') return (await this.guard(() => this.advance(orderId))) ?? order;
    return order;
  }

  async cancel(customerId: string, orderId: string): Promise<Order> {
    const res = await this.guard(() => this.store.cancel(orderId, customerId));
    const { order, changed } = orderAfter('cancel', res, orderId);
    if (!changed) return order;
    this.notify.toUser(customerId, 'order:update', order);
    if (order.providerId && res.extra === 'offered') this.notify.toUser(order.providerId, 'offer:revoked', { orderId, reason: 'cancelled' });
    if (order.providerId && res.extra === 'assigned') this.notify.toUser(order.providerId, 'order:update', order);
    if (res.extra === 'offered') void this.jobs.remove(timeoutJobId(orderId, order.attempt));
    return order;
  }

  // ---- offers ----

  async accept(providerId: string, orderId: string): Promise<Order> {
    const res = await this.guard(() => this.store.accept(orderId, providerId));
    const { order, changed } = orderAfter('accept', res, orderId);
    if (!changed) return order;
    this.notify.toUser(order.customerId, 'order:update', order);
    void this.jobs.remove(timeoutJobId(orderId, order.attempt));
    return order;
  }

  async decline(providerId: string, orderId: string): Promise<Order> {
    const res = await this.guard(() => this.store.release(orderId, providerId, null));
    const { order } = orderAfter('decline', res, orderId);
    this.notify.toUser(order.customerId, 'order:update', order);
    // The timer of the declined offer stays: if we die before the next offer, it searches again.
    return (await this.guard(() => this.advance(orderId))) ?? order;
  }

  async complete(providerId: string, orderId: string): Promise<Order> {
    const res = await this.guard(() => this.store.complete(orderId, providerId));
    const { order, changed } = orderAfter('complete', res, orderId);
    if (!changed) return order;
    this.notify.toUser(order.customerId, 'order:update', order);
    return order;
  }

  /** The delayed job of one offer (or of a search step): expires the offer, or resumes a stranded search. */
  async onOfferTimeout(job: Job): Promise<string> {
    const { orderId, attempt } = job.data as OfferTimeoutData;
    const order = await this.store.getOrder(orderId);
    if (!order || order.attempt !== attempt) return 'stale';
    if (order.status === 'searching') {
      await this.advance(orderId);
      return 'resumed';
    }
    if (order.status !== 'offered' || !order.providerId) return 'stale';
    const res = await this.store.release(orderId, order.providerId, attempt);
    if (res.tag !== 'released' || !res.order) return 'stale';
    this.notify.toUser(order.providerId, 'offer:revoked', { orderId, reason: 'timeout' });
    this.notify.toUser(order.customerId, 'order:update', res.order);
    await this.advance(orderId);
    return 'expired';
  }

  /**
   * Offers a searching order to the nearest available provider in its radius that has not had
   * it yet, or marks it unassigned when none is left. Returns the order afterwards.
   */
  private async advance(orderId: string): Promise<Order | null> {
    let count = 16;
    for (let round = 0; round < 20; round++) {
      const order = await this.store.getOrder(orderId);
      if (!order || order.status !== 'searching') return order;
      const candidates = await this.store.nearby(order, count);
      const exhausted = candidates.length < count;
      const expiresAt = Date.now() + this.opts.offerTimeoutMs;
      if (candidates.length > 0) await this.scheduleTimeout(orderId, order.attempt + 1, expiresAt);
      const res = await this.store.offer(orderId, order.attempt, expiresAt, candidates, exhausted);
      if (res.tag === 'offered' && res.order) {
        this.notify.toUser(res.order.providerId!, 'offer:new', offerOf(res.order));
        this.notify.toUser(res.order.customerId, 'order:update', res.order);
        return res.order;
      }
      if (res.tag === 'unassigned' && res.order) {
        this.notify.toUser(res.order.customerId, 'order:update', res.order);
        return res.order;
      }
      if (res.tag === 'skip') return res.order;
      // 'more': every candidate of this page was busy or tried; 'retry': the order moved meanwhile.
      if (res.tag === 'more') count *= 4;
    }
    this.log.warn({ orderId }, 'dispatch search gave up after 20 rounds; the offer timer will resume it');
    return this.store.getOrder(orderId);
  }

  /**
   * A restored searching or offered order lost its timer with Redis: a new one (its own job id,
   * so a completed job of the same attempt cannot swallow it) resumes the search or expires the
   * offer, no earlier than `settleMs` from now, when the replicas have announced their providers again.
   */
  async resumeAfterRestore(order: StoredOrder, epoch: string, settleMs: number): Promise<void> {
    const at = Math.max(order.offerExpiresAt ?? 0, Date.now() + settleMs);
    const data: OfferTimeoutData = { orderId: order.id, attempt: order.attempt };
    await this.jobs.add(OFFER_TIMEOUT_JOB, data, {
      jobId: `${timeoutJobId(order.id, order.attempt)}-restored-${epoch}`,
      delay: Math.max(0, at - Date.now()),
      attempts: 5,
      backoff: { type: 'exponential', delay: 500 },
    });
  }

  private async scheduleTimeout(orderId: string, attempt: number, at: number): Promise<void> {
    const data: OfferTimeoutData = { orderId, attempt };
    await this.jobs.add(OFFER_TIMEOUT_JOB, data, {
      jobId: timeoutJobId(orderId, attempt),
      delay: Math.max(0, at - Date.now()),
      attempts: 5,
      backoff: { type: 'exponential', delay: 500 },
    });
  }

  /** Redis being unavailable becomes UNAVAILABLE; anything else (a script error, a bug) stays INTERNAL. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.redis.isUp()) throw new AppError('UNAVAILABLE', 'dispatch is unavailable while Redis is down');
    try {
      return await fn();
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      this.log.warn({ err: (err as Error).message }, 'dispatch redis step failed');
      throw new AppError('UNAVAILABLE', 'dispatch is unavailable, try again');
    }
  }
}

export const timeoutJobId = (orderId: string, attempt: number) => `dispatch-offer-${orderId}-${attempt}`;
