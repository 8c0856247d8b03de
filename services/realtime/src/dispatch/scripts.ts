import { luaScript, type KeyCount, type LuaArg } from '../infra/lua-scripts';
import type { RedisClient } from '../infra/redis-topology';

/** Every dispatch script answers {tag, extra, HGETALL of the hash it is about...} (lua/reply.lua). */
export type DispatchReply<Tag extends string> = [tag: Tag, extra: string, ...hash: string[]];

/** Every step answers this, changing nothing, while the zone restores after Redis lost its data (lua/outbox.lua). */
export type Restoring = 'restoring';

/** The tag of each script's reply; every lua/<script>.lua says what each one means. */
export type ProviderUpTag = 'ok' | 'offline' | Restoring;
export type ProviderDownTag = 'ok' | 'released' | 'retry' | Restoring;
export type CreateTag = 'created' | 'exists' | 'backlog' | Restoring;
export type OfferTag = 'offered' | 'unassigned' | 'more' | 'retry' | 'skip' | Restoring;
export type ReleaseTag = 'released' | 'stale' | 'missing' | Restoring;
export type AcceptTag = 'assigned' | 'already' | 'forbidden' | 'busy' | 'missing' | Restoring;
export type CompleteTag = 'completed' | 'already' | 'forbidden' | 'missing' | Restoring;
export type CancelTag = 'cancelled' | 'final' | 'forbidden' | 'retry' | 'missing' | Restoring;
export type UpdateTag = 'updated' | 'research' | 'final' | 'forbidden' | 'missing' | Restoring;
export type RestoreTag = 'restored' | 'exists' | 'expired' | 'done';

/** Every step script: reply.lua's reply() and outbox.lua's restore gate and record() go before it. */
const script = <Keys extends readonly string[], Argv extends readonly LuaArg[], Tag extends string>(name: string, keys: KeyCount<Keys>) =>
  luaScript<Keys, Argv, DispatchReply<Tag>>('dispatch', name, keys, { prelude: ['reply', 'outbox'] });

type Now = number;
/** A key of the same slot standing in for a hash the caller found no id for. */
type KeyOrPlaceholder = string;
/** KEYS[1] and KEYS[2] of every step: the zone's epoch key and its outbox stream. */
type Zone = [epoch: string, outbox: string];

const PROVIDER_UP = script<
  [...Zone, provider: string, geo: string],
  [userId: string, socket: string, node: string, lat: number, lng: number, now: Now, ttlMs: number, mode: 'online' | 'location'],
  ProviderUpTag
>('provider-up', 4);

const PROVIDER_DOWN = script<
  [...Zone, provider: string, geo: string, order: KeyOrPlaceholder, tried: KeyOrPlaceholder],
  [userId: string, expectedOrderId: string, now: Now],
  ProviderDownTag
>('provider-down', 6);

const CREATE = script<[...Zone, order: string, tried: string], [outboxMax: number, ...fieldsAndValues: LuaArg[]], CreateTag>('create', 4);

const OFFER = script<
  [...Zone, order: string, tried: string, geo: string, ...candidates: string[]],
  [orderId: string, now: Now, expiresAt: number, expectedAttempt: number, exhausted: '0' | '1', ...candidateIds: string[]],
  OfferTag
>('offer', 'variadic');

/** The steps on an order and the provider it names: [epoch, outbox, order, tried, provider]. */
type OrderAndProvider = [...Zone, order: string, tried: string, provider: KeyOrPlaceholder];

const RELEASE = script<OrderAndProvider, [orderId: string, providerId: string, attempt: number | '', now: Now], ReleaseTag>('release', 5);

const ACCEPT = script<OrderAndProvider, [orderId: string, providerId: string, now: Now], AcceptTag>('accept', 5);

const COMPLETE = script<OrderAndProvider, [orderId: string, providerId: string, now: Now], CompleteTag>('complete', 5);

const CANCEL = script<OrderAndProvider, [orderId: string, customerId: string, expectedProviderId: string, now: Now], CancelTag>('cancel', 5);

const UPDATE = script<
  [...Zone, order: string, tried: string],
  [customerId: string, lat: number | '', lng: number | '', radiusKm: number | '', now: Now],
  UpdateTag
>('update', 4);

const RESTORE = script<OrderAndProvider, [now: Now, providerTtlMs: number, triedJson: string, ...fieldsAndValues: LuaArg[]], RestoreTag>('restore', 5);

const HOLD_LOCK = luaScript<[lock: string], [token: string, ttlMs: number], 0 | 1>('dispatch', 'hold-lock', 1);
// The cache's compare-and-delete: the same lock shape (a token as the value).
const RELEASE_LOCK = luaScript<[lock: string], [token: string], 0 | 1>('cache', 'release-lock', 1);

/** The dispatch scripts, registered on a client (the store builds this once). */
export function dispatchScripts(client: RedisClient) {
  return {
    providerUp: PROVIDER_UP.on(client),
    providerDown: PROVIDER_DOWN.on(client),
    createOrder: CREATE.on(client),
    offer: OFFER.on(client),
    release: RELEASE.on(client),
    accept: ACCEPT.on(client),
    complete: COMPLETE.on(client),
    cancel: CANCEL.on(client),
    update: UPDATE.on(client),
    restore: RESTORE.on(client),
    holdLock: HOLD_LOCK.on(client),
    releaseLock: RELEASE_LOCK.on(client),
  };
}
export type DispatchScripts = ReturnType<typeof dispatchScripts>;
