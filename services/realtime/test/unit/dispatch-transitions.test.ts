import { AppError } from '../../src/infra/errors';
import { ORDER_STATUSES, type Order, type OrderStatus } from '@switchboard/protocol';
import { ORDER_TRANSITIONS, STEPS, orderAfter, settle, type Step, type StepTag, type Verdict } from '../../src/dispatch/transitions';

const order = (status: OrderStatus): Order => ({
  id: 'o1',
  customerId: 'cara',
  status,
  pickup: { lat: 52.52, lng: 13.405 },
  radiusKm: 5,
  providerId: status === 'searching' || status === 'unassigned' ? null : 'pia',
  attempt: 1,
  offerExpiresAt: null,
  createdAt: 1,
  updatedAt: 2,
});

/** Every (step, tag) with its verdict for an order in `status` (rules may look at it). */
function verdicts(status: OrderStatus): Array<{ step: Step; tag: string; verdict: Verdict }> {
  return Object.entries(STEPS).flatMap(([step, rules]) =>
    Object.entries(rules).map(([tag, rule]) => ({
      step: step as Step,
      tag,
      verdict: typeof rule === 'function' ? rule(order(status), 'o1') : rule,
    })),
  );
}
const moves = () =>
  ORDER_STATUSES.flatMap((s) => verdicts(s))
    .map((v) => v.verdict)
    .filter((v) => v.kind === 'moved');

function refusal(run: () => unknown): { code: string; message: string } | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { code: err.code, message: err.message };
  }
}

describe('dispatch transitions', () => {
  it('every move a step makes is a transition of the state machine', () => {
    for (const m of moves()) for (const from of m.from) expect(ORDER_TRANSITIONS[from]).toContain(m.to);
  });

  it('every transition of the state machine is made by some step', () => {
    const made = new Set(moves().flatMap((m) => m.from.map((from) => `${from} -> ${m.to}`)));
    const declared = Object.entries(ORDER_TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => `${from} -> ${to}`));
    expect([...made].sort()).toEqual(declared.sort());
  });

  it('completed and cancelled are final; every other status can still be cancelled', () => {
    expect(ORDER_TRANSITIONS.completed).toEqual([]);
    expect(ORDER_TRANSITIONS.cancelled).toEqual([]);
    for (const s of ['searching', 'offered', 'assigned', 'unassigned'] as const) expect(ORDER_TRANSITIONS[s]).toContain('cancelled');
  });

  it('steps no client asks for never refuse', () => {
    const internal = new Set<Step>(['offline', 'create', 'offer', 'timeout']);
    const refusing = ORDER_STATUSES.flatMap((s) => verdicts(s)).filter((v) => internal.has(v.step) && v.verdict.kind === 'refused');
    expect(refusing).toEqual([]);
  });

  it.each<[Step, string, OrderStatus, string, string]>([
    ['location', 'offline', 'searching', 'FORBIDDEN', 'go online (provider:online) before sending locations'],
    ['decline', 'missing', 'offered', 'NOT_FOUND', 'no order o1'],
    ['decline', 'stale', 'searching', 'FORBIDDEN', 'this order is not offered to you'],
    ['accept', 'missing', 'offered', 'NOT_FOUND', 'no order o1'],
    ['accept', 'forbidden', 'searching', 'FORBIDDEN', 'this order is not offered to you (declined, expired or never made)'],
    ['accept', 'busy', 'offered', 'FORBIDDEN', 'complete your current order first'],
    ['complete', 'missing', 'assigned', 'NOT_FOUND', 'no order o1'],
    ['complete', 'forbidden', 'offered', 'FORBIDDEN', 'this order is not assigned to you'],
    ['cancel', 'missing', 'searching', 'NOT_FOUND', 'no order o1'],
    ['cancel', 'forbidden', 'searching', 'FORBIDDEN', 'not your order'],
    ['cancel', 'final', 'completed', 'FORBIDDEN', 'order is completed'],
    ['update', 'missing', 'searching', 'NOT_FOUND', 'no order o1'],
    ['update', 'forbidden', 'searching', 'FORBIDDEN', 'not your order'],
    ['update', 'final', 'cancelled', 'FORBIDDEN', 'order is cancelled'],
    ['update', 'final', 'completed', 'FORBIDDEN', 'order is completed'],
  ])('%s answering %s (order %s) is %s "%s"', (step, tag, status, code, message) => {
    expect(refusal(() => settle(step, tag as StepTag<typeof step>, order(status), 'o1'))).toEqual({ code, message });
  });

  it.each<[Step, string, OrderStatus, boolean]>([
    ['accept', 'assigned', 'assigned', true],
    ['accept', 'already', 'assigned', false],
    ['complete', 'completed', 'completed', true],
    ['complete', 'already', 'completed', false],
    ['decline', 'released', 'searching', true],
    ['cancel', 'cancelled', 'cancelled', true],
    // Cancelling twice is harmless.
    ['cancel', 'final', 'cancelled', false],
    ['update', 'updated', 'assigned', true],
    ['update', 'research', 'searching', true],
  ])('%s answering %s gives the order (%s), changed: %s', (step, tag, status, changed) => {
    const after = order(status);
    expect(orderAfter(step, { tag: tag as StepTag<typeof step>, order: after }, 'o1')).toEqual({ order: after, changed });
  });

  it('a reply without the order is NOT_FOUND', () => {
    expect(refusal(() => orderAfter('accept', { tag: 'assigned', order: null }, 'o1'))).toEqual({ code: 'NOT_FOUND', message: 'no order o1' });
  });

  it('create tells a retried create apart', () => {
    expect(settle('create', 'created').kind).toBe('written');
    expect(settle('create', 'exists').kind).toBe('unchanged');
  });
});
