import type { Keyspace } from '../infra/keys';
import type { RedisConnections } from '../infra/redis';
import type { Order, OrderStatus, Provider, ProviderStatus } from '@switchboard/protocol';
import { dispatchScripts } from './scripts';
import type { AcceptTag, CancelTag, CompleteTag, CreateTag, DispatchReply, DispatchScripts, OfferTag, ProviderUpTag, ReleaseTag, UpdateTag } from './scripts';

/** What a step's script answered: its tag, and the order it is about. */
export interface Outcome<Tag extends string = string> {
  tag: Tag;
  /** The order after the step (null when it does not exist). */
  order: Order | null;
  /** Script-specific: the status before the step (cancel, update). */
  extra: string;
}

/**
 * All dispatch state, in Redis. Every key shares one hash tag, {dispatch:<zone>}, so each
 * step (offer, accept, decline, timeout, cancel) is a single Lua script over the order, its
 * tried set, the GEO index and the provider hashes, atomic on one Redis and valid on a Redis
 * Cluster (one slot per zone; this service runs one zone, "default"; a city-sized deployment
 * would shard by zone).
 *
 * Keys (prefix sb:):
 * - {dispatch:default}:providers              GEO set of online providers (every status; the hash says which are free)
 * - {dispatch:default}:provider:<userId>      hash userId, status available|offered|busy, orderId, lat, lng, socket, node, updatedAt; TTL = presence TTL, refreshed by the replica holding the socket
 * - {dispatch:default}:order:<orderId>        hash id, customerId, status, lat, lng, radiusKm, providerId, attempt, offerExpiresAt, createdAt, updatedAt; TTL ORDER_TTL_MS from its last change
 * - {dispatch:default}:order:<orderId>:tried  set of providers that already had an offer for the order
 */
export class DispatchStore {
  static readonly ORDER_TTL_MS = 24 * 3600 * 1000;
  private readonly zone = 'default';
  private readonly scripts: DispatchScripts;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly providerTtlMs: number,
  ) {
    this.scripts = dispatchScripts(redis.command);
  }

  private get cmd() {
    return this.redis.command;
  }

  geoKey(): string {
    return this.keys.tagged('dispatch', this.zone, 'providers');
  }
  providerKey(userId: string): string {
    return this.keys.tagged('dispatch', this.zone, 'provider', userId);
  }
  orderKey(orderId: string): string {
    return this.keys.tagged('dispatch', this.zone, 'order', orderId);
  }
  triedKey(orderId: string): string {
    return this.keys.tagged('dispatch', this.zone, 'order', orderId, 'tried');
  }

  /** provider:online (mode 'online') or provider:location (mode 'location': 'offline', no provider, when it is not online). */
  async providerUp(
    mode: 'online' | 'location', userId: string, socketId: string, node: string, lat: number, lng: number,
  ): Promise<{ tag: ProviderUpTag; provider: Provider | null }> {
    const [tag, , ...pairs] = await this.scripts.providerUp(
      [this.providerKey(userId), this.geoKey()],
      [userId, socketId, node, lat, lng, Date.now(), this.providerTtlMs, mode],
    );
    return { tag, provider: tag === 'ok' ? parseProvider(pairs) : null };
  }

  /** Removes the provider; returns the order whose pending offer went back to searching, if any. */
  async providerDown(userId: string): Promise<Order | null> {
    for (let i = 0; i < 10; i++) {
      const orderId = (await this.cmd.hget(this.providerKey(userId), 'orderId')) ?? '';
      const [tag, , ...pairs] = await this.scripts.providerDown(
        [this.providerKey(userId), this.geoKey(), this.orderKey(orderId)],
        [userId, orderId, Date.now()],
      );
      if (tag === 'retry') continue;
      return tag === 'released' ? parseOrder(pairs) : null;
    }
    throw new Error('provider record kept changing');
  }

  async getProvider(userId: string): Promise<Provider | null> {
    const h = await this.cmd.hgetall(this.providerKey(userId));
    return Object.keys(h).length ? providerFrom(h) : null;
  }

  /** Extends the records of the providers this replica holds a socket for. */
  async refreshProviders(userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    const p = this.cmd.pipeline();
    for (const id of userIds) p.pexpire(this.providerKey(id), this.providerTtlMs);
    await p.exec();
  }

  /** Creates the order; if one with this id exists (a retried create) returns that one with tag 'exists'. */
  async createOrder(order: Order): Promise<Outcome<CreateTag>> {
    const fields: Record<string, string | number> = {
      id: order.id,
      customerId: order.customerId,
      status: order.status,
      lat: order.pickup.lat,
      lng: order.pickup.lng,
      radiusKm: order.radiusKm,
      providerId: '',
      attempt: order.attempt,
      offerExpiresAt: '',
      createdAt: order.createdAt,
      updatedAt: order.updatedAt,
    };
    return outcome(await this.scripts.createOrder([this.orderKey(order.id)], [DispatchStore.ORDER_TTL_MS, ...Object.entries(fields).flat()]));
  }

  async getOrder(orderId: string): Promise<Order | null> {
    const h = await this.cmd.hgetall(this.orderKey(orderId));
    return Object.keys(h).length ? orderFrom(h) : null;
  }

  /** Online providers within the order's radius, nearest first, at most `count`. */
  async nearby(order: Order, count: number): Promise<string[]> {
    return (await this.cmd.geosearch(
      this.geoKey(), 'FROMLONLAT', order.pickup.lng, order.pickup.lat, 'BYRADIUS', order.radiusKm, 'km', 'ASC', 'COUNT', count,
    )) as string[];
  }

  async offer(orderId: string, attempt: number, expiresAt: number, candidates: string[], exhausted: boolean): Promise<Outcome<OfferTag>> {
    return outcome(
      await this.scripts.offer([this.orderKey(orderId), this.triedKey(orderId), this.geoKey(), ...candidates.map((c) => this.providerKey(c))],
        [orderId, Date.now(), expiresAt, DispatchStore.ORDER_TTL_MS, attempt, exhausted ? '1' : '0', ...candidates],
      ),
    );
  }

  /** Decline (attempt null) or timeout (the attempt the timer was set for). */
  async release(orderId: string, providerId: string, attempt: number | null): Promise<Outcome<ReleaseTag>> {
    return outcome(
      await this.scripts.release(this.orderAndProvider(orderId, providerId), [orderId, providerId, attempt === null ? '' : attempt, Date.now()]),
    );
  }

  async accept(orderId: string, providerId: string): Promise<Outcome<AcceptTag>> {
    return outcome(await this.scripts.accept(this.orderAndProvider(orderId, providerId), [orderId, providerId, Date.now()]));
  }

  async complete(orderId: string, providerId: string): Promise<Outcome<CompleteTag>> {
    return outcome(await this.scripts.complete(this.orderAndProvider(orderId, providerId), [orderId, providerId, Date.now()]));
  }

  /** Never answers 'retry': it reads the order's provider again and retries. */
  async cancel(orderId: string, customerId: string): Promise<Outcome<Exclude<CancelTag, 'retry'>>> {
    for (let i = 0; i < 10; i++) {
      const providerId = (await this.cmd.hget(this.orderKey(orderId), 'providerId')) ?? '';
      const res = outcome(await this.scripts.cancel(this.orderAndProvider(orderId, providerId), [orderId, customerId, providerId, Date.now()]));
      if (res.tag !== 'retry') return { ...res, tag: res.tag };
    }
    throw new Error('order kept changing');
  }

  async update(
    orderId: string, customerId: string, pickup: { lat: number; lng: number } | undefined, radiusKm: number | undefined,
  ): Promise<Outcome<UpdateTag>> {
    return outcome(
      await this.scripts.update([this.orderKey(orderId)], [customerId, pickup?.lat ?? '', pickup?.lng ?? '', radiusKm ?? '', Date.now()]),
    );
  }

  private orderAndProvider(orderId: string, providerId: string): [order: string, provider: string] {
    return [this.orderKey(orderId), this.providerKey(providerId)];
  }
}

function outcome<Tag extends string>([tag, extra, ...pairs]: DispatchReply<Tag>): Outcome<Tag> {
  return { tag, extra, order: pairs.length ? parseOrder(pairs) : null };
}

function pairsToObject(pairs: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) o[pairs[i]] = pairs[i + 1];
  return o;
}

const parseOrder = (pairs: string[]) => orderFrom(pairsToObject(pairs));
const parseProvider = (pairs: string[]) => providerFrom(pairsToObject(pairs));

function orderFrom(h: Record<string, string>): Order {
  return {
    id: h.id,
    customerId: h.customerId,
    status: h.status as OrderStatus,
    pickup: { lat: Number(h.lat), lng: Number(h.lng) },
    radiusKm: Number(h.radiusKm),
    providerId: h.providerId || null,
    attempt: Number(h.attempt ?? 0),
    offerExpiresAt: h.offerExpiresAt ? Number(h.offerExpiresAt) : null,
    createdAt: Number(h.createdAt),
    updatedAt: Number(h.updatedAt),
  };
}

function providerFrom(h: Record<string, string>): Provider {
  return {
    userId: h.userId,
    status: h.status as ProviderStatus,
    lat: Number(h.lat),
    lng: Number(h.lng),
    orderId: h.orderId || null,
    socket: h.socket,
    node: h.node,
    updatedAt: Number(h.updatedAt),
  };
}
