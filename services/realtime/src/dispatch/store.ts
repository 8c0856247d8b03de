import { AppError } from '../infra/errors';
import type { Keyspace } from '../infra/keys';
import type { RedisConnections } from '../infra/redis';
import {
  ORDER_STATUSES,
  ORDER_TRANSITION_STEPS,
  type NearbyProvider,
  type Order,
  type OrderStatus,
  type OrderTransitionStep,
  type Provider,
  type ProviderStatus,
} from '@switchboard/protocol';
import { dispatchScripts } from './scripts';
import type {
  AcceptTag,
  CancelTag,
  CompleteTag,
  CreateTag,
  DispatchReply,
  DispatchScripts,
  OfferTag,
  ProviderUpTag,
  ReleaseTag,
  Restoring,
  RestoreTag,
  UpdateTag,
} from './scripts';

/** What a step's script answered: its tag, and the order it is about. */
export interface Outcome<Tag extends string = string> {
  tag: Tag;
  /** The order after the step (null when it does not exist). */
  order: Order | null;
  /** Script-specific: the status before the step (cancel, update). */
  extra: string;
}

/** An order with what MongoDB keeps beside the wire shape. */
export interface StoredOrder extends Order {
  /** +1 for every change (lua/outbox.lua): the order's transitions are numbered 1, 2, 3... */
  seq: number;
  /** The provider that accepted it, kept after it completes or is cancelled. */
  acceptedBy: string | null;
}

/** One change of an order waiting in the outbox for MongoDB. */
export interface OutboxEntry {
  /** The stream entry id, to delete once MongoDB has it. */
  streamId: string;
  order: StoredOrder;
  /** Providers that have had an offer for the order. */
  tried: string[];
  /** What lua/outbox.lua's record() was told made it. */
  step: OrderTransitionStep;
  /** The status before ('' for a create). */
  from: OrderStatus | '';
  /** The provider the step was about (offered, declined, timed out, accepted...), '' for none. */
  provider: string;
}

const RESTORING_MESSAGE = 'dispatch is restoring its orders after Redis lost its data, try again shortly';

/**
 * All live dispatch state, in Redis. Every key shares one hash tag, {dispatch:<zone>}, so each
 * step (offer, accept, decline, timeout, cancel) is a single Lua script over the order, its
 * tried set, the GEO index, the provider hashes and the outbox, atomic on one Redis and valid
 * on a Redis Cluster (one slot per zone; this service runs one zone, "default"; a city-sized
 * deployment would shard by zone).
 *
 * Keys (prefix sb:):
 * - {dispatch:default}:providers              GEO set of online providers (every status; the hash says which are free)
 * - {dispatch:default}:provider:<userId>      hash userId, status available|offered|busy, orderId, lat, lng, socket, node, updatedAt; TTL = presence TTL, refreshed by the replica holding the socket
 * - {dispatch:default}:order:<orderId>        hash id, customerId, status, lat, lng, radiusKm, providerId, attempt, offerExpiresAt, createdAt, updatedAt, seq, acceptedBy; no TTL while searching, offered or assigned, 24 h from its last change otherwise
 * - {dispatch:default}:order:<orderId>:tried  set of providers that already had an offer for the order (same lifetime)
 * - {dispatch:default}:outbox                 stream of order transitions waiting for MongoDB (outbox.ts drains it)
 * - {dispatch:default}:epoch                  written once the zone's orders are in Redis; missing = Redis lost its data (restore.ts)
 * - {dispatch:default}:outbox-lock, :restore-lock   which replica drains the outbox, which one restores
 */
export class DispatchStore {
  private readonly zone = 'default';
  private readonly scripts: DispatchScripts;
  private readonly lockScripts: DispatchScripts;
  /** Called when a step found the epoch key missing: the restore should run. */
  onRestoring: () => void = () => undefined;
  /** Told after every step script that ran: it may have appended a transition to the outbox. */
  onStep: () => void = () => undefined;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly providerTtlMs: number,
    /** Most transitions the outbox may hold before new orders are refused (DISPATCH_OUTBOX_MAX). */
    private readonly outboxMax: number,
  ) {
    this.scripts = dispatchScripts(redis.command);
    this.lockScripts = dispatchScripts(redis.background);
  }

  private get cmd() {
    return this.redis.command;
  }

  /** The outbox writer's and the restore's own traffic: work no step waits on (RedisConnections.background). */
  private get bg() {
    return this.redis.background;
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
  epochKey(): string {
    return this.keys.tagged('dispatch', this.zone, 'epoch');
  }
  outboxKey(): string {
    return this.keys.tagged('dispatch', this.zone, 'outbox');
  }
  lockKey(work: 'outbox' | 'restore'): string {
    return this.keys.tagged('dispatch', this.zone, `${work}-lock`);
  }
  private zoneKeys(): [epoch: string, outbox: string] {
    return [this.epochKey(), this.outboxKey()];
  }

  /** provider:online (mode 'online') or provider:location (mode 'location': 'offline', no provider, when it is not online). */
  async providerUp(
    mode: 'online' | 'location', userId: string, socketId: string, node: string, lat: number, lng: number,
  ): Promise<{ tag: Exclude<ProviderUpTag, Restoring>; provider: Provider | null }> {
    const [tag, , ...pairs] = this.open(
      await this.scripts.providerUp(
        [...this.zoneKeys(), this.providerKey(userId), this.geoKey()],
        [userId, socketId, node, lat, lng, Date.now(), this.providerTtlMs, mode],
      ),
    );
    return { tag, provider: tag === 'ok' ? parseProvider(pairs) : null };
  }

  /** Removes the provider; returns the order whose pending offer went back to searching, if any. */
  async providerDown(userId: string): Promise<Order | null> {
    for (let i = 0; i < 10; i++) {
      const orderId = (await this.cmd.hget(this.providerKey(userId), 'orderId')) ?? '';
      const [tag, , ...pairs] = this.open(
        await this.scripts.providerDown(
          [...this.zoneKeys(), this.providerKey(userId), this.geoKey(), this.orderKey(orderId), this.triedKey(orderId)],
          [userId, orderId, Date.now()],
        ),
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

  /** Online providers within `radiusKm` of a point, nearest first, at most `count`; entries whose record expired are left out. */
  async providersNear(lat: number, lng: number, radiusKm: number, count: number): Promise<NearbyProvider[]> {
    const found = (await this.cmd.geosearch(this.geoKey(), 'FROMLONLAT', lng, lat, 'BYRADIUS', radiusKm, 'km', 'ASC', 'COUNT', count, 'WITHDIST')) as Array<
      [userId: string, distance: string]
    >;
    if (found.length === 0) return [];
    // One slot: a plain pipeline.
    const p = this.cmd.pipeline();
    for (const [id] of found) p.hgetall(this.providerKey(id));
    const hashes = (await p.exec()) ?? [];
    const out: NearbyProvider[] = [];
    found.forEach(([, distance], i) => {
      const [err, h] = hashes[i] ?? [];
      if (err) throw err;
      const fields = h as Record<string, string>;
      if (fields && fields.socket) out.push({ ...providerFrom(fields), distanceKm: Number(distance) });
    });
    return out;
  }

  /** Creates the order; if one with this id exists (a retried create) returns that one with tag 'exists'. */
  async createOrder(order: Order): Promise<Outcome<Exclude<CreateTag, Restoring | 'backlog'>>> {
    const res = this.outcome(await this.scripts.createOrder([...this.zoneKeys(), this.orderKey(order.id), this.triedKey(order.id)], [this.outboxMax, ...orderFields(order)]));
    if (res.tag === 'backlog') throw new AppError('UNAVAILABLE', 'too many order changes are waiting for MongoDB; try again later');
    return { ...res, tag: res.tag };
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

  async offer(orderId: string, attempt: number, expiresAt: number, candidates: string[], exhausted: boolean): Promise<Outcome<Exclude<OfferTag, Restoring>>> {
    return this.outcome(
      await this.scripts.offer(
        [...this.zoneKeys(), this.orderKey(orderId), this.triedKey(orderId), this.geoKey(), ...candidates.map((c) => this.providerKey(c))],
        [orderId, Date.now(), expiresAt, attempt, exhausted ? '1' : '0', ...candidates],
      ),
    );
  }

  /** Decline (attempt null) or timeout (the attempt the timer was set for). */
  async release(orderId: string, providerId: string, attempt: number | null): Promise<Outcome<Exclude<ReleaseTag, Restoring>>> {
    return this.outcome(
      await this.scripts.release(this.orderAndProvider(orderId, providerId), [orderId, providerId, attempt === null ? '' : attempt, Date.now()]),
    );
  }

  async accept(orderId: string, providerId: string): Promise<Outcome<Exclude<AcceptTag, Restoring>>> {
    return this.outcome(await this.scripts.accept(this.orderAndProvider(orderId, providerId), [orderId, providerId, Date.now()]));
  }

  async complete(orderId: string, providerId: string): Promise<Outcome<Exclude<CompleteTag, Restoring>>> {
    return this.outcome(await this.scripts.complete(this.orderAndProvider(orderId, providerId), [orderId, providerId, Date.now()]));
  }

  /** Never answers 'retry': it reads the order's provider again and retries. */
  async cancel(orderId: string, customerId: string): Promise<Outcome<Exclude<CancelTag, 'retry' | Restoring>>> {
    for (let i = 0; i < 10; i++) {
      const providerId = (await this.cmd.hget(this.orderKey(orderId), 'providerId')) ?? '';
      const res = this.outcome(await this.scripts.cancel(this.orderAndProvider(orderId, providerId), [orderId, customerId, providerId, Date.now()]));
      if (res.tag !== 'retry') return { ...res, tag: res.tag };
    }
    throw new Error('order kept changing');
  }

  async update(
    orderId: string, customerId: string, pickup: { lat: number; lng: number } | undefined, radiusKm: number | undefined,
  ): Promise<Outcome<Exclude<UpdateTag, Restoring>>> {
    return this.outcome(
      await this.scripts.update(
        [...this.zoneKeys(), this.orderKey(orderId), this.triedKey(orderId)],
        [customerId, pickup?.lat ?? '', pickup?.lng ?? '', radiusKm ?? '', Date.now()],
      ),
    );
  }

  // ---- outbox (outbox.ts) ----

  /** The oldest transitions waiting for MongoDB, at most `count`, and any entry that cannot be read (a bug: the caller logs and drops it). */
  async readOutbox(count: number): Promise<{ entries: OutboxEntry[]; malformed: Array<{ streamId: string; fields: Record<string, string> }> }> {
    const rows = await this.bg.xrange(this.outboxKey(), '-', '+', 'COUNT', count);
    const entries: OutboxEntry[] = [];
    const malformed: Array<{ streamId: string; fields: Record<string, string> }> = [];
    for (const [streamId, list] of rows) {
      const fields = pairsToObject(list);
      const entry = outboxEntry(streamId, fields);
      if (entry) entries.push(entry);
      else malformed.push({ streamId, fields });
    }
    return { entries, malformed };
  }

  /** Removes transitions MongoDB has. */
  async deleteFromOutbox(streamIds: string[]): Promise<void> {
    if (streamIds.length > 0) await this.bg.xdel(this.outboxKey(), ...streamIds);
  }

  async outboxLength(): Promise<number> {
    return this.cmd.xlen(this.outboxKey());
  }

  // ---- restore (restore.ts) ----

  /** The zone's epoch: null while Redis has lost its data and the restore has not finished. */
  async epoch(): Promise<string | null> {
    return this.cmd.get(this.epochKey());
  }

  /** Ends a restore: the steps work again. False when another replica's restore ended it first. */
  async setEpoch(epoch: string): Promise<boolean> {
    return (await this.cmd.set(this.epochKey(), epoch, 'NX')) === 'OK';
  }

  /** Puts an order read from MongoDB back (lua/restore.lua). */
  async restoreOrder(order: StoredOrder, tried: string[]): Promise<RestoreTag> {
    const keys = this.orderAndProvider(order.id, order.providerId ?? '');
    const [tag] = await this.scripts.restore(keys, [Date.now(), this.providerTtlMs, JSON.stringify(tried), ...orderFields(order), 'seq', order.seq, 'acceptedBy', order.acceptedBy ?? '']);
    return tag;
  }

  /** Takes or extends a lock (hold-lock.lua): true while this node holds it. */
  async holdLock(work: 'outbox' | 'restore', token: string, ttlMs: number): Promise<boolean> {
    return (await this.lockScripts.holdLock([this.lockKey(work)], [token, ttlMs])) === 1;
  }

  async releaseLock(work: 'outbox' | 'restore', token: string): Promise<void> {
    await this.lockScripts.releaseLock([this.lockKey(work)], [token]);
  }

  private orderAndProvider(orderId: string, providerId: string): [epoch: string, outbox: string, order: string, tried: string, provider: string] {
    return [...this.zoneKeys(), this.orderKey(orderId), this.triedKey(orderId), this.providerKey(providerId)];
  }

  /** A reply with its 'restoring' turned into UNAVAILABLE (and the restore woken). */
  private open<Tag extends string>(reply: DispatchReply<Tag>): DispatchReply<Exclude<Tag, Restoring>> {
    if (reply[0] === 'restoring') {
      this.onRestoring();
      throw new AppError('UNAVAILABLE', RESTORING_MESSAGE);
    }
    this.onStep();
    return reply as DispatchReply<Exclude<Tag, Restoring>>;
  }

  private outcome<Tag extends string>(reply: DispatchReply<Tag>): Outcome<Exclude<Tag, Restoring>> {
    const [tag, extra, ...pairs] = this.open(reply);
    return { tag, extra, order: pairs.length ? parseOrder(pairs) : null };
  }
}

/** The hash fields of an order, as create.lua and restore.lua write them. */
function orderFields(order: Order): Array<string | number> {
  const fields: Record<string, string | number> = {
    id: order.id,
    customerId: order.customerId,
    status: order.status,
    lat: order.pickup.lat,
    lng: order.pickup.lng,
    radiusKm: order.radiusKm,
    providerId: order.providerId ?? '',
    attempt: order.attempt,
    offerExpiresAt: order.offerExpiresAt ?? '',
    createdAt: order.createdAt,
    updatedAt: order.updatedAt,
  };
  return Object.entries(fields).flat();
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

/** A stream entry as outbox.lua's record() wrote it, or null when it is not one (a bug). */
function outboxEntry(streamId: string, f: Record<string, string>): OutboxEntry | null {
  let h: Record<string, string>;
  let tried: unknown;
  try {
    h = JSON.parse(f.order ?? '') as Record<string, string>;
    tried = JSON.parse(f.tried || '[]');
  } catch {
    return null;
  }
  const order: StoredOrder = { ...orderFrom(h), seq: Number(h.seq), acceptedBy: h.acceptedBy || null };
  const step = f.step as OrderTransitionStep;
  const from = f.from as OrderStatus | '';
  const valid =
    typeof order.id === 'string' && Number.isInteger(order.seq) && order.seq >= 1 && ORDER_STATUSES.includes(order.status) &&
    ORDER_TRANSITION_STEPS.includes(step) && (from === '' || ORDER_STATUSES.includes(from));
  // cjson writes an empty set as {}: anything but a list is none.
  return valid ? { streamId, order, tried: Array.isArray(tried) ? tried.map(String) : [], step, from, provider: f.provider ?? '' } : null;
}
