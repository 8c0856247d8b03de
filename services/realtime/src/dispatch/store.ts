import type { Redis } from 'ioredis';
import type { Keyspace } from '../infra/keys';
import type { RedisConnections } from '../infra/redis';
import type { Order, OrderStatus, Provider, ProviderStatus } from '../protocol';

/** Every script answers {tag, extra, HGETALL of the hash it is about...}. */
const REPLY = `
local function reply(tag, key, extra)
  local r = redis.call('HGETALL', key)
  table.insert(r, 1, extra or '')
  table.insert(r, 1, tag)
  return r
end
`;

// KEYS provider, geo. ARGV userId, socket, node, lat, lng, now, ttl, mode ('online' | 'location').
// Going online again (a reconnect) keeps the provider's status and order.
const PROVIDER_UP = `${REPLY}
if ARGV[8] == 'location' and redis.call('EXISTS', KEYS[1]) == 0 then return {'offline', ''} end
local status = redis.call('HGET', KEYS[1], 'status') or 'available'
redis.call('HSET', KEYS[1], 'userId', ARGV[1], 'socket', ARGV[2], 'node', ARGV[3], 'lat', ARGV[4], 'lng', ARGV[5], 'status', status, 'updatedAt', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('GEOADD', KEYS[2], ARGV[5], ARGV[4], ARGV[1])
return reply('ok', KEYS[1])
`;

// KEYS provider, geo, order (the one the caller read from the provider, or a placeholder).
// ARGV userId, expectedOrderId ('' for none), now. A pending offer goes back to searching.
const PROVIDER_DOWN = `${REPLY}
local cur = redis.call('HGET', KEYS[1], 'orderId') or ''
if cur ~= ARGV[2] then return {'retry', ''} end
local status = redis.call('HGET', KEYS[1], 'status')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if status == 'offered' and cur ~= '' and redis.call('HGET', KEYS[3], 'status') == 'offered' and redis.call('HGET', KEYS[3], 'providerId') == ARGV[1] then
  redis.call('HSET', KEYS[3], 'status', 'searching', 'providerId', '', 'offerExpiresAt', '', 'updatedAt', ARGV[3])
  return reply('released', KEYS[3])
end
return {'ok', ''}
`;

// KEYS order, tried, geo, provider keys of the candidates (nearest first).
// ARGV orderId, now, expiresAt, ttl, expectedAttempt, exhausted ('1' when the candidates are every provider in the radius), candidate ids...
// Offers the order to the nearest candidate that is available and has not had it yet: provider and
// order change together or not at all, so two replicas racing for one provider cannot both win.
const OFFER = `${REPLY}
if redis.call('HGET', KEYS[1], 'status') ~= 'searching' then return reply('skip', KEYS[1]) end
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[5] then return reply('retry', KEYS[1]) end
local customer = redis.call('HGET', KEYS[1], 'customerId')
for i = 4, #KEYS do
  local id = ARGV[i + 3]
  if id ~= customer and redis.call('SISMEMBER', KEYS[2], id) == 0 then
    local ps = redis.call('HGET', KEYS[i], 'status')
    if not ps then
      -- the provider's record expired (its replica died): drop the stale index entry
      redis.call('ZREM', KEYS[3], id)
    elseif ps == 'available' then
      redis.call('HSET', KEYS[i], 'status', 'offered', 'orderId', ARGV[1], 'updatedAt', ARGV[2])
      redis.call('HSET', KEYS[1], 'status', 'offered', 'providerId', id, 'attempt', tonumber(ARGV[5]) + 1, 'offerExpiresAt', ARGV[3], 'updatedAt', ARGV[2])
      redis.call('SADD', KEYS[2], id)
      redis.call('PEXPIRE', KEYS[1], ARGV[4])
      redis.call('PEXPIRE', KEYS[2], ARGV[4])
      return reply('offered', KEYS[1])
    end
  end
end
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[1], 'status', 'unassigned', 'providerId', '', 'offerExpiresAt', '', 'updatedAt', ARGV[2])
  return reply('unassigned', KEYS[1])
end
return reply('more', KEYS[1])
`;

// KEYS order, provider. ARGV orderId, providerId, attempt ('' for any), now.
// Decline or timeout: the pending offer ends and the order searches again.
const RELEASE = `${REPLY}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[1], 'status') ~= 'offered' or redis.call('HGET', KEYS[1], 'providerId') ~= ARGV[2]
  or (ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[3]) then
  return reply('stale', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', 'searching', 'providerId', '', 'offerExpiresAt', '', 'updatedAt', ARGV[4])
if redis.call('HGET', KEYS[2], 'orderId') == ARGV[1] then
  redis.call('HSET', KEYS[2], 'status', 'available', 'orderId', '', 'updatedAt', ARGV[4])
end
return reply('released', KEYS[1])
`;

// KEYS order, provider. ARGV orderId, providerId, now. Accepting twice answers 'already' (safe retries).
const ACCEPT = `${REPLY}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[1], 'status') == 'assigned' and redis.call('HGET', KEYS[1], 'providerId') == ARGV[2] then
  return reply('already', KEYS[1])
end
if redis.call('HGET', KEYS[1], 'status') ~= 'offered' or redis.call('HGET', KEYS[1], 'providerId') ~= ARGV[2] then
  return reply('forbidden', KEYS[1])
end
if redis.call('HGET', KEYS[2], 'status') == 'busy' and redis.call('HGET', KEYS[2], 'orderId') ~= ARGV[1] then
  return reply('busy', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', 'assigned', 'offerExpiresAt', '', 'updatedAt', ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'status', 'busy', 'orderId', ARGV[1], 'updatedAt', ARGV[3])
end
return reply('assigned', KEYS[1])
`;

// KEYS order, provider. ARGV orderId, providerId, now. Completing twice answers 'already'.
const COMPLETE = `${REPLY}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[1], 'status') == 'completed' and redis.call('HGET', KEYS[1], 'providerId') == ARGV[2] then
  return reply('already', KEYS[1])
end
if redis.call('HGET', KEYS[1], 'status') ~= 'assigned' or redis.call('HGET', KEYS[1], 'providerId') ~= ARGV[2] then
  return reply('forbidden', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', 'completed', 'updatedAt', ARGV[3])
if redis.call('HGET', KEYS[2], 'orderId') == ARGV[1] then
  redis.call('HSET', KEYS[2], 'status', 'available', 'orderId', '', 'updatedAt', ARGV[3])
end
return reply('completed', KEYS[1])
`;

// KEYS order, provider (of the providerId the caller read, or a placeholder).
// ARGV orderId, customerId, expectedProviderId, now. Extra = the status before.
const CANCEL = `${REPLY}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[1], 'customerId') ~= ARGV[2] then return reply('forbidden', KEYS[1]) end
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'cancelled' or st == 'completed' then return reply('final', KEYS[1], st) end
if redis.call('HGET', KEYS[1], 'providerId') ~= ARGV[3] then return {'retry', ''} end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'offerExpiresAt', '', 'updatedAt', ARGV[4])
if ARGV[3] ~= '' and redis.call('HGET', KEYS[2], 'orderId') == ARGV[1] then
  redis.call('HSET', KEYS[2], 'status', 'available', 'orderId', '', 'updatedAt', ARGV[4])
end
return reply('cancelled', KEYS[1], st)
`;

// KEYS order. ARGV customerId, lat, lng, radiusKm ('' = unchanged), now. Extra = the status before.
// An unassigned order searches again (next step), skipping providers that already had it.
const UPDATE = `${REPLY}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', ''} end
if redis.call('HGET', KEYS[1], 'customerId') ~= ARGV[1] then return reply('forbidden', KEYS[1]) end
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'cancelled' or st == 'completed' then return reply('final', KEYS[1], st) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'lat', ARGV[2], 'lng', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'radiusKm', ARGV[4]) end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[5])
if st == 'unassigned' then
  redis.call('HSET', KEYS[1], 'status', 'searching', 'attempt', tonumber(redis.call('HGET', KEYS[1], 'attempt')) + 1)
  return reply('research', KEYS[1], st)
end
return reply('updated', KEYS[1], st)
`;

// KEYS order. ARGV ttl, then field/value pairs. Creates the order unless it exists ('exists': a retried create).
const CREATE = `${REPLY}
if redis.call('EXISTS', KEYS[1]) == 1 then return reply('exists', KEYS[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return reply('created', KEYS[1])
`;

type Reply = [string, string, ...string[]];
interface Scripts {
  sbDispatchCreate(...args: Array<string | number>): Promise<Reply>;
  sbDispatchProviderUp(...args: Array<string | number>): Promise<Reply>;
  sbDispatchProviderDown(...args: Array<string | number>): Promise<Reply>;
  sbDispatchOffer(numKeys: number, ...args: Array<string | number>): Promise<Reply>;
  sbDispatchRelease(...args: Array<string | number>): Promise<Reply>;
  sbDispatchAccept(...args: Array<string | number>): Promise<Reply>;
  sbDispatchComplete(...args: Array<string | number>): Promise<Reply>;
  sbDispatchCancel(...args: Array<string | number>): Promise<Reply>;
  sbDispatchUpdate(...args: Array<string | number>): Promise<Reply>;
}

export interface Outcome {
  tag: string;
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

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly providerTtlMs: number,
  ) {
    const define = (name: string, lua: string, numberOfKeys?: number) =>
      redis.command.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
    define('sbDispatchCreate', CREATE, 1);
    define('sbDispatchProviderUp', PROVIDER_UP, 2);
    define('sbDispatchProviderDown', PROVIDER_DOWN, 3);
    define('sbDispatchOffer', OFFER);
    define('sbDispatchRelease', RELEASE, 2);
    define('sbDispatchAccept', ACCEPT, 2);
    define('sbDispatchComplete', COMPLETE, 2);
    define('sbDispatchCancel', CANCEL, 2);
    define('sbDispatchUpdate', UPDATE, 1);
  }

  private get cmd(): Redis & Scripts {
    return this.redis.command as Redis & Scripts;
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

  /** provider:online (mode 'online') or provider:location (mode 'location': null when the provider is not online). */
  async providerUp(mode: 'online' | 'location', userId: string, socketId: string, node: string, lat: number, lng: number): Promise<Provider | null> {
    const [tag, , ...pairs] = await this.cmd.sbDispatchProviderUp(
      this.providerKey(userId), this.geoKey(), userId, socketId, node, lat, lng, Date.now(), this.providerTtlMs, mode,
    );
    return tag === 'ok' ? parseProvider(pairs) : null;
  }

  /** Removes the provider; returns the order whose pending offer went back to searching, if any. */
  async providerDown(userId: string): Promise<Order | null> {
    for (let i = 0; i < 10; i++) {
      const orderId = (await this.cmd.hget(this.providerKey(userId), 'orderId')) ?? '';
      const [tag, , ...pairs] = await this.cmd.sbDispatchProviderDown(
        this.providerKey(userId), this.geoKey(), this.orderKey(orderId), userId, orderId, Date.now(),
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
  async createOrder(order: Order): Promise<Outcome> {
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
    return outcome(await this.cmd.sbDispatchCreate(this.orderKey(order.id), DispatchStore.ORDER_TTL_MS, ...Object.entries(fields).flat()));
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

  async offer(orderId: string, attempt: number, expiresAt: number, candidates: string[], exhausted: boolean): Promise<Outcome> {
    const keys = [this.orderKey(orderId), this.triedKey(orderId), this.geoKey(), ...candidates.map((c) => this.providerKey(c))];
    const argv = [orderId, Date.now(), expiresAt, DispatchStore.ORDER_TTL_MS, attempt, exhausted ? '1' : '0', ...candidates];
    return outcome(await this.cmd.sbDispatchOffer(keys.length, ...keys, ...argv));
  }

  /** Decline (attempt null) or timeout (the attempt the timer was set for). */
  async release(orderId: string, providerId: string, attempt: number | null): Promise<Outcome> {
    return outcome(
      await this.cmd.sbDispatchRelease(this.orderKey(orderId), this.providerKey(providerId), orderId, providerId, attempt === null ? '' : attempt, Date.now()),
    );
  }

  async accept(orderId: string, providerId: string): Promise<Outcome> {
    return outcome(await this.cmd.sbDispatchAccept(this.orderKey(orderId), this.providerKey(providerId), orderId, providerId, Date.now()));
  }

  async complete(orderId: string, providerId: string): Promise<Outcome> {
    return outcome(await this.cmd.sbDispatchComplete(this.orderKey(orderId), this.providerKey(providerId), orderId, providerId, Date.now()));
  }

  async cancel(orderId: string, customerId: string): Promise<Outcome> {
    for (let i = 0; i < 10; i++) {
      const providerId = (await this.cmd.hget(this.orderKey(orderId), 'providerId')) ?? '';
      const res = outcome(
        await this.cmd.sbDispatchCancel(this.orderKey(orderId), this.providerKey(providerId), orderId, customerId, providerId, Date.now()),
      );
      if (res.tag !== 'retry') return res;
    }
    throw new Error('order kept changing');
  }

  async update(orderId: string, customerId: string, pickup: { lat: number; lng: number } | undefined, radiusKm: number | undefined): Promise<Outcome> {
    return outcome(
      await this.cmd.sbDispatchUpdate(this.orderKey(orderId), customerId, pickup?.lat ?? '', pickup?.lng ?? '', radiusKm ?? '', Date.now()),
    );
  }
}

function outcome([tag, extra, ...pairs]: Reply): Outcome {
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
