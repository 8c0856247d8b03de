import { AppError } from '../infra/errors';
import type { ErrorCode, Order, OrderStatus } from '@switchboard/protocol';
import type { AcceptTag, CancelTag, CompleteTag, CreateTag, OfferTag, ProviderDownTag, ProviderUpTag, ReleaseTag, Restoring, UpdateTag } from './scripts';

/**
 * Where an order may go from each status. The scripts in lua/ make the moves;
 * STEPS says which reply of which step makes which, and the unit tests check
 * that the two agree.
 */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  searching: ['offered', 'unassigned', 'cancelled'],
  offered: ['searching', 'assigned', 'cancelled'],
  assigned: ['completed', 'cancelled'],
  unassigned: ['searching', 'cancelled'],
  completed: [],
  cancelled: [],
};

/** What one reply of a step means to its caller. */
export type Verdict =
  /** The order moved from one of `from` to `to`. */
  | { readonly kind: 'moved'; readonly from: readonly OrderStatus[]; readonly to: OrderStatus }
  /** Written without moving an order (a new order, an update's fields, a provider's record). */
  | { readonly kind: 'written' }
  /** Nothing written: a retry of a step that already happened, or nothing to do. */
  | { readonly kind: 'unchanged' }
  /** Refused with this error (code and message go to the client). */
  | { readonly kind: 'refused'; readonly code: ErrorCode; readonly message: string };

type Refusal = Extract<Verdict, { kind: 'refused' }>;
/** A verdict, or one that names the order (its id, its status) the script answered about. */
type Rule = Verdict | ((order: Order | null, orderId: string) => Verdict);

/**
 * The reply tags each step's caller sees (lua/<script>.lua says what each one means). The store
 * answers 'restoring' (and create's 'backlog') with UNAVAILABLE itself: no step sees them.
 */
interface StepTags {
  /** provider:location (provider-up.lua); provider:online always answers 'ok'. */
  location: Exclude<ProviderUpTag, Restoring>;
  /** A provider's socket goes away (provider-down.lua; the store retries 'retry'). */
  offline: Exclude<ProviderDownTag, 'retry' | Restoring>;
  create: Exclude<CreateTag, 'backlog' | Restoring>;
  /** One round of the search for a provider (offer.lua). */
  offer: Exclude<OfferTag, Restoring>;
  /** The provider declines (release.lua). */
  decline: Exclude<ReleaseTag, Restoring>;
  /** The offer's timer fires (release.lua at the offer's attempt). */
  timeout: Exclude<ReleaseTag, Restoring>;
  accept: Exclude<AcceptTag, Restoring>;
  complete: Exclude<CompleteTag, Restoring>;
  /** cancel.lua; the store retries 'retry'. */
  cancel: Exclude<CancelTag, 'retry' | Restoring>;
  update: Exclude<UpdateTag, Restoring>;
}
export type Step = keyof StepTags;
export type StepTag<S extends Step> = StepTags[S];

const moved = (from: OrderStatus | readonly OrderStatus[], to: OrderStatus): Verdict => ({
  kind: 'moved',
  from: typeof from === 'string' ? [from] : from,
  to,
});
const WRITTEN: Verdict = { kind: 'written' };
const UNCHANGED: Verdict = { kind: 'unchanged' };
const refused = (code: ErrorCode, message: string): Refusal => ({ kind: 'refused', code, message });

const notFound = (orderId: string) => refused('NOT_FOUND', `no order ${orderId}`);
const NOT_FOUND: Rule = (_order, orderId) => notFound(orderId);
const NOT_YOUR_ORDER = refused('FORBIDDEN', 'not your order');
const isFinal = (order: Order | null) => refused('FORBIDDEN', `order is ${order?.status}`);
const toAppError = (r: Refusal) => new AppError(r.code, r.message);

/**
 * Every dispatch step: what each reply of its script means. This is the one
 * place where a reply becomes an AppError. Steps no client asks for (offer,
 * timeout, offline) never refuse; their entries record the moves they make.
 */
export const STEPS: { readonly [S in Step]: Readonly<Record<StepTags[S], Rule>> } = {
  location: {
    ok: WRITTEN,
    offline: refused('FORBIDDEN', 'go online (provider:online) before sending locations'),
  },
  offline: { ok: WRITTEN, released: moved('offered', 'searching') },
  create: { created: WRITTEN, exists: UNCHANGED },
  offer: {
    offered: moved('searching', 'offered'),
    unassigned: moved('searching', 'unassigned'),
    more: UNCHANGED,
    retry: UNCHANGED,
    skip: UNCHANGED,
  },
  decline: {
    released: moved('offered', 'searching'),
    stale: refused('FORBIDDEN', 'this order is not offered to you'),
    missing: NOT_FOUND,
  },
  timeout: { released: moved('offered', 'searching'), stale: UNCHANGED, missing: UNCHANGED },
  accept: {
    assigned: moved('offered', 'assigned'),
    already: UNCHANGED,
    forbidden: refused('FORBIDDEN', 'this order is not offered to you (declined, expired or never made)'),
    busy: refused('FORBIDDEN', 'complete your current order first'),
    missing: NOT_FOUND,
  },
  complete: {
    completed: moved('assigned', 'completed'),
    already: UNCHANGED,
    forbidden: refused('FORBIDDEN', 'this order is not assigned to you'),
    missing: NOT_FOUND,
  },
  cancel: {
    cancelled: moved(['searching', 'offered', 'assigned', 'unassigned'], 'cancelled'),
    // Cancelling twice is harmless; a completed order stays completed.
    final: (order) => (order?.status === 'cancelled' ? UNCHANGED : isFinal(order)),
    forbidden: NOT_YOUR_ORDER,
    missing: NOT_FOUND,
  },
  update: {
    updated: WRITTEN,
    research: moved('unassigned', 'searching'),
    final: isFinal,
    forbidden: NOT_YOUR_ORDER,
    missing: NOT_FOUND,
  },
};

/** The verdict on a step's reply; throws the AppError of a refusal. */
export function settle<S extends Step>(step: S, tag: StepTag<S>, order: Order | null = null, orderId = ''): Exclude<Verdict, Refusal> {
  const rules: Readonly<Record<StepTag<S>, Rule>> = STEPS[step];
  const rule: Rule = rules[tag];
  const verdict = typeof rule === 'function' ? rule(order, orderId) : rule;
  if (verdict.kind === 'refused') throw toAppError(verdict);
  return verdict;
}

/**
 * The order after a step a client asked for, and whether the step changed it;
 * throws the step's AppError when it was refused or the order is gone.
 */
export function orderAfter<S extends Step>(
  step: S,
  res: { tag: StepTag<S>; order: Order | null },
  orderId: string,
): { order: Order; changed: boolean } {
  const verdict = settle(step, res.tag, res.order, orderId);
  if (!res.order) throw toAppError(notFound(orderId));
  return { order: res.order, changed: verdict.kind !== 'unchanged' };
}
