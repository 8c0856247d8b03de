import { luaScript, type KeyCount, type LuaArg } from '../infra/lua-scripts';
import type { RedisClient } from '../infra/redis-topology';

/** Every dispatch script answers {tag, extra, HGETALL of the hash it is about...} (lua/reply.lua). */
export type DispatchReply<Tag extends string> = [tag: Tag, extra: string, ...hash: string[]];

/** The tag of each script's reply; every lua/<script>.lua says what each one means. */
export type ProviderUpTag = 'ok' | 'offline';
export type ProviderDownTag = 'ok' | 'released' | 'retry';
export type CreateTag = 'created' | 'exists';
export type OfferTag = 'offered' | 'unassigned' | 'more' | 'retry' | 'skip';
export type ReleaseTag = 'released' | 'stale' | 'missing';
export type AcceptTag = 'assigned' | 'already' | 'forbidden' | 'busy' | 'missing';
export type CompleteTag = 'completed' | 'already' | 'forbidden' | 'missing';
export type CancelTag = 'cancelled' | 'final' | 'forbidden' | 'retry' | 'missing';
export type UpdateTag = 'updated' | 'research' | 'final' | 'forbidden' | 'missing';

const script = <Keys extends readonly string[], Argv extends readonly LuaArg[], Tag extends string>(name: string, keys: KeyCount<Keys>) =>
  luaScript<Keys, Argv, DispatchReply<Tag>>('dispatch', name, keys, { prelude: 'reply' });

type Now = number;
/** A key of the same slot standing in for a hash the caller found no id for. */
type KeyOrPlaceholder = string;

const PROVIDER_UP = script<
  [provider: string, geo: string],
  [userId: string, socket: string, node: string, lat: number, lng: number, now: Now, ttlMs: number, mode: 'online' | 'location'],
  ProviderUpTag
>('provider-up', 2);

const PROVIDER_DOWN = script<
  [provider: string, geo: string, order: KeyOrPlaceholder],
  [userId: string, expectedOrderId: string, now: Now],
  ProviderDownTag
>('provider-down', 3);

const CREATE = script<[order: string], [ttlMs: number, ...fieldsAndValues: LuaArg[]], CreateTag>('create', 1);

const OFFER = script<
  [order: string, tried: string, geo: string, ...candidates: string[]],
  [orderId: string, now: Now, expiresAt: number, ttlMs: number, expectedAttempt: number, exhausted: '0' | '1', ...candidateIds: string[]],
  OfferTag
>('offer', 'variadic');

const RELEASE = script<
  [order: string, provider: string],
  [orderId: string, providerId: string, attempt: number | '', now: Now],
  ReleaseTag
>('release', 2);

const ACCEPT = script<[order: string, provider: string], [orderId: string, providerId: string, now: Now], AcceptTag>('accept', 2);

const COMPLETE = script<[order: string, provider: string], [orderId: string, providerId: string, now: Now], CompleteTag>('complete', 2);

const CANCEL = script<
  [order: string, provider: KeyOrPlaceholder],
  [orderId: string, customerId: string, expectedProviderId: string, now: Now],
  CancelTag
>('cancel', 2);

const UPDATE = script<
  [order: string],
  [customerId: string, lat: number | '', lng: number | '', radiusKm: number | '', now: Now],
  UpdateTag
>('update', 1);

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
  };
}
export type DispatchScripts = ReturnType<typeof dispatchScripts>;
