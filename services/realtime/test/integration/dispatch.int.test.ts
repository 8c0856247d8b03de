import type { Socket } from 'socket.io-client';
import { FAST_PRESENCE, collect, connect, emitAck, metricsOf, startCluster, type Cluster } from '../support/cluster';
import { dispatchUsers } from '../support/dispatch-users';
import { killGroup, stopProcess, waitFor } from '../support/processes';

/**
 * The /dispatch namespace on three replicas sharing one Redis: nearest-provider choice,
 * exactly-one-wins races, decline and timeout hand-over, and a replica restart mid-order.
 * Each test works around its own coordinates, far from the others' (1 degree ~ 111 km).
 */
const OFFER_TIMEOUT_MS = 3000;

/** A point `km` kilometres north of `base`. */
const north = (base: { lat: number; lng: number }, km: number) => ({ lat: base.lat + km / 111.2, lng: base.lng });

const unhandledRejections = async (url: string) => {
  const text = await (await fetch(`${metricsOf(url)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('sb_unhandled_rejections_total'));
  return Number(line?.split(' ').at(-1) ?? NaN);
};

describe('dispatch: online providers and active orders', () => {
  let cluster: Cluster;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 3, env: { ...FAST_PRESENCE, DISPATCH_OFFER_TIMEOUT_MS: String(OFFER_TIMEOUT_MS), DISPATCH_RADIUS_KM: '5' } });
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    await cluster?.stop();
  });

  const { user, provider, customer } = dispatchUsers(sockets);

  it('refuses a bad token at the handshake', async () => {
    const [r1] = cluster.replicas;
    await expect(connect(`${r1.url}/dispatch`, 'forged')).rejects.toThrow('unauthorized');
  });

  it('offers an order to the nearest available provider in the radius; acks, errors and the order lifecycle', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const base = { lat: 10, lng: 10 };
    const far = await provider(r1, north(base, 0.2)); // nearest of all, but goes offline
    const near = await provider(r1, north(base, 0.5));
    const mid = await provider(r2, north(base, 1.5));
    const outside = await provider(r3, north(base, 8));
    expect(await emitAck(far.socket, 'provider:offline')).toEqual({ ok: true });
    expect(await emitAck(outside.socket, 'provider:location', north(base, 7))).toMatchObject({ ok: true, provider: { status: 'available' } });
    const cust = await customer(r3);
    const other = await customer(r2);

    // Validation: bad coordinates, unknown fields, missing payload.
    expect(await emitAck(cust.socket, 'order:create', { pickup: { lat: 200, lng: 0 } })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await emitAck(cust.socket, 'order:create', { pickup: base, extra: 1 })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await emitAck(cust.socket, 'order:create', { pickup: base, radiusKm: -1 })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await emitAck(near.socket, 'provider:online', { lat: 'x' })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await emitAck(cust.socket, 'order:get', { orderId: 'no-such-order' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await emitAck(cust.socket, 'order:cancel', { orderId: 'bad id!' })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    // Someone who is not online cannot send locations.
    expect(await emitAck(cust.socket, 'provider:location', base)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });

    const created = await emitAck(cust.socket, 'order:create', { pickup: base });
    expect(created).toMatchObject({ ok: true, order: { customerId: cust.userId, status: 'offered', providerId: near.userId, attempt: 1, radiusKm: 5 } });
    const orderId = created.order.id as string;
    await waitFor('offer to the nearest provider', () => near.offers.length === 1);
    expect(near.offers[0]).toEqual({ orderId, pickup: base, expiresAt: created.order.offerExpiresAt });
    expect(near.offers[0].expiresAt).toBeGreaterThan(Date.now() - 1000);

    // Only the customer and the provider concerned may touch it.
    expect(await emitAck(other.socket, 'order:cancel', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await emitAck(other.socket, 'order:get', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await emitAck(mid.socket, 'offer:accept', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await emitAck(mid.socket, 'offer:decline', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });

    const accepted = await emitAck(near.socket, 'offer:accept', { orderId });
    expect(accepted).toMatchObject({ ok: true, order: { id: orderId, status: 'assigned', providerId: near.userId } });
    await waitFor('customer told it is assigned', () => cust.updates.some((u) => u.id === orderId && u.status === 'assigned'));
    // Retrying an accept that went through is harmless; another provider still cannot.
    expect(await emitAck(near.socket, 'offer:accept', { orderId })).toMatchObject({ ok: true, order: { status: 'assigned', providerId: near.userId } });
    expect(await emitAck(mid.socket, 'offer:accept', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await emitAck(cust.socket, 'order:get', { orderId })).toMatchObject({ ok: true, order: { status: 'assigned' } });
    expect(await emitAck(near.socket, 'order:get', { orderId })).toMatchObject({ ok: true, order: { status: 'assigned' } });

    // While the nearest is busy the next order goes to the next nearest; the far one stays out of the radius.
    const second = await emitAck(cust.socket, 'order:create', { pickup: base });
    expect(second).toMatchObject({ ok: true, order: { status: 'offered', providerId: mid.userId } });
    expect(await emitAck(cust.socket, 'order:cancel', { orderId: second.order.id })).toMatchObject({ ok: true, order: { status: 'cancelled' } });
    await waitFor('offer revoked on cancel', () => mid.revoked.some((r) => r.orderId === second.order.id && r.reason === 'cancelled'));
    expect(await emitAck(cust.socket, 'order:cancel', { orderId: second.order.id })).toMatchObject({ ok: true, order: { status: 'cancelled' } });

    // Completing frees the provider: the next order is offered to the nearest again.
    expect(await emitAck(mid.socket, 'order:complete', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await emitAck(near.socket, 'order:complete', { orderId })).toMatchObject({ ok: true, order: { status: 'completed' } });
    expect(await emitAck(near.socket, 'order:complete', { orderId })).toMatchObject({ ok: true, order: { status: 'completed' } });
    await waitFor('customer told it is completed', () => cust.updates.some((u) => u.id === orderId && u.status === 'completed'));
    expect(await emitAck(cust.socket, 'order:cancel', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    const third = await emitAck(cust.socket, 'order:create', { pickup: base, radiusKm: 10, clientOrderId: 'retry-me' });
    expect(third).toMatchObject({ ok: true, duplicate: false, order: { status: 'offered', providerId: near.userId, radiusKm: 10 } });
    // A retried create (same clientOrderId, e.g. after a lost ack), on another replica: the same order, no second offer.
    const other3 = await connect(`${r1.url}/dispatch`, cust.token);
    sockets.push(other3);
    const retried = await emitAck(other3, 'order:create', { pickup: base, radiusKm: 10, clientOrderId: 'retry-me' });
    expect(retried).toMatchObject({ ok: true, duplicate: true, order: { id: third.order.id, status: 'offered', providerId: near.userId } });
    // Another customer's identical clientOrderId is a different order.
    const foreign = await emitAck(other.socket, 'order:create', { pickup: base, clientOrderId: 'retry-me' });
    expect(foreign).toMatchObject({ ok: true, duplicate: false });
    expect(foreign.order.id).not.toBe(third.order.id);
    await emitAck(other.socket, 'order:cancel', { orderId: foreign.order.id });
    expect(near.offers.filter((o) => o.orderId === third.order.id)).toHaveLength(1);
    await emitAck(cust.socket, 'order:cancel', { orderId: third.order.id });
    expect(far.offers).toHaveLength(0);
    expect(outside.offers).toHaveLength(0);
  });

  it('hands an order over after a decline and after a timeout, then leaves it unassigned; an update searches again', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const base = { lat: 20, lng: 20 };
    const a = await provider(r1, north(base, 0.3));
    const b = await provider(r2, north(base, 1));
    const c = await provider(r3, north(base, 2));
    const cust = await customer(r1);

    const created = await emitAck(cust.socket, 'order:create', { pickup: base });
    expect(created).toMatchObject({ ok: true, order: { status: 'offered', providerId: a.userId } });
    const orderId = created.order.id as string;
    await waitFor('offer to a', () => a.offers.length === 1);

    const declined = await emitAck(a.socket, 'offer:decline', { orderId });
    expect(declined).toMatchObject({ ok: true, order: { status: 'offered', providerId: b.userId, attempt: 2 } });
    await waitFor('offer to b after the decline', () => b.offers.length === 1);
    const bOffer = b.offers[0];

    // b does not answer: after the timeout, c gets it, and b hears its offer is gone.
    await waitFor('offer to c after the timeout', () => c.offers.length === 1, 20_000);
    expect(Date.now()).toBeGreaterThanOrEqual(bOffer.expiresAt - 50);
    await waitFor('b told of the timeout', () => b.revoked.some((r) => r.orderId === orderId && r.reason === 'timeout'));
    expect(await emitAck(b.socket, 'offer:accept', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });

    // c does not answer either: nobody in the radius is left who has not had it.
    await waitFor('customer told it is unassigned', () => cust.updates.some((u) => u.id === orderId && u.status === 'unassigned'), 20_000);
    await waitFor('c told of the timeout', () => c.revoked.some((r) => r.orderId === orderId && r.reason === 'timeout'));
    expect(await emitAck(cust.socket, 'order:get', { orderId })).toMatchObject({ ok: true, order: { status: 'unassigned', providerId: null } });
    expect([a.offers.length, b.offers.length, c.offers.length]).toEqual([1, 1, 1]);
    // The customer's updates follow the order through its states.
    const seen = cust.updates.filter((u) => u.id === orderId).map((u) => `${u.status}:${u.providerId ?? '-'}`);
    expect(seen).toEqual(expect.arrayContaining([`offered:${b.userId}`, `offered:${c.userId}`, 'unassigned:-']));

    // A new provider comes online; the customer updates the order (wider radius) and it searches again.
    const d = await provider(r2, north(base, 6));
    const updated = await emitAck(cust.socket, 'order:update', { orderId, radiusKm: 8 });
    expect(updated).toMatchObject({ ok: true, order: { status: 'offered', providerId: d.userId, radiusKm: 8 } });
    await waitFor('offer to d', () => d.offers.length === 1);
    expect(await emitAck(cust.socket, 'order:cancel', { orderId })).toMatchObject({ ok: true, order: { status: 'cancelled' } });
    await waitFor('d told of the cancel', () => d.revoked.some((r) => r.orderId === orderId && r.reason === 'cancelled'));
    expect(await emitAck(cust.socket, 'order:update', { orderId, radiusKm: 9 })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });

    // A provider going offline with an offer pending hands it over at once.
    const again = await emitAck(cust.socket, 'order:create', { pickup: base });
    expect(again).toMatchObject({ ok: true, order: { providerId: a.userId } });
    expect(await emitAck(a.socket, 'provider:offline')).toEqual({ ok: true });
    await waitFor('b gets it when a goes offline', () => b.offers.some((o) => o.orderId === again.order.id));
    await emitAck(cust.socket, 'order:cancel', { orderId: again.order.id });
  });

  it('two replicas racing for one provider: exactly one order gets it', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const base = { lat: 30, lng: 30 };
    const p = await provider(r3, north(base, 0.5));
    const c1 = await customer(r1);
    const c2 = await customer(r2);
    for (let round = 0; round < 5; round++) {
      const acks = await Promise.all([c1, c2].map((c) => emitAck(c.socket, 'order:create', { pickup: base })));
      const statuses = acks.map((a) => a.order.status).sort();
      expect(statuses).toEqual(['offered', 'unassigned']);
      const winner = acks.find((a) => a.order.status === 'offered')!;
      expect(winner.order.providerId).toBe(p.userId);
      await waitFor(`offer ${round + 1}`, () => p.offers.length === round + 1);
      expect(p.offers[round].orderId).toBe(winner.order.id);
      const owner = acks[0] === winner ? c1 : c2;
      expect(await emitAck(owner.socket, 'order:cancel', { orderId: winner.order.id })).toMatchObject({ ok: true });
    }

    // Many customers on three replicas at once, three providers: each provider gets exactly one order.
    const base2 = { lat: 31, lng: 31 };
    const providers = await Promise.all([r1, r2, r3].map((r, i) => provider(r, north(base2, 0.5 + i))));
    const customers = await Promise.all(Array.from({ length: 9 }, (_, i) => customer(cluster.replicas[i % 3])));
    const acks = await Promise.all(customers.map((c) => emitAck(c.socket, 'order:create', { pickup: base2 })));
    const offered = acks.filter((a) => a.order.status === 'offered');
    expect(offered).toHaveLength(3);
    expect(new Set(offered.map((a) => a.order.providerId))).toEqual(new Set(providers.map((x) => x.userId)));
    expect(acks.filter((a) => a.order.status === 'unassigned')).toHaveLength(6);
    await waitFor('one offer each', () => providers.every((x) => x.offers.length === 1));
    // Nothing more arrives later (the offers' timers may hand over, but never to a busy provider twice at once).
    for (const x of providers) {
      const accepted = await emitAck(x.socket, 'offer:accept', { orderId: x.offers[0].orderId });
      expect(accepted).toMatchObject({ ok: true, order: { status: 'assigned', providerId: x.userId } });
    }
  });

  it('a replica restarted mid-order: the offer timer still fires, accept works, the reconnected customer gets the update', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const base = { lat: 40, lng: 40 };
    const a = await provider(r2, north(base, 0.5));
    const b = await provider(r3, north(base, 1));
    const cust = await customer(r1);
    const created = await emitAck(cust.socket, 'order:create', { pickup: base });
    expect(created).toMatchObject({ ok: true, order: { status: 'offered', providerId: a.userId } });
    const orderId = created.order.id as string;

    // The replica serving the customer (which scheduled the offer's timer) is replaced by a new
    // process: SIGTERM, its sockets close, the customer reconnects to the new replica.
    const r4 = await cluster.startReplica('realtime-4');
    const gone = new Promise<void>((resolve) => cust.socket.once('disconnect', () => resolve()));
    await stopProcess(r1.proc);
    await gone;
    const socket = await connect(`${r4.url}/dispatch`, cust.token);
    sockets.push(socket);
    const updates = collect(socket, 'order:update');
    // It catches up with order:get (offered: to a, or already to b if a's timer fired meanwhile).
    expect(await emitAck(socket, 'order:get', { orderId })).toMatchObject({ ok: true, order: { id: orderId, status: 'offered' } });

    // a never answers: a surviving replica's worker expires the offer and hands it to b.
    await waitFor('offer to b after the timeout', () => b.offers.some((o) => o.orderId === orderId), 30_000);
    expect(await emitAck(b.socket, 'offer:accept', { orderId })).toMatchObject({ ok: true, order: { status: 'assigned' } });
    await waitFor('customer on the new replica told it is assigned', () => updates.some((u) => u.id === orderId && u.status === 'assigned' && u.providerId === b.userId));
    expect(await emitAck(socket, 'order:get', { orderId })).toMatchObject({ ok: true, order: { status: 'assigned', providerId: b.userId } });
    expect(await emitAck(a.socket, 'offer:accept', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });

  it("a killed replica's providers expire after the presence TTL and are never offered an order", async () => {
    const live = cluster.replicas.filter((x) => x.proc.child.exitCode === null && x.proc.child.signalCode === null);
    const [doomed, survivor] = live;
    const base = { lat: 45, lng: 45 };
    const ghost = await provider(doomed, north(base, 0.2));
    const alive = await provider(survivor, north(base, 1));
    const redis = cluster.redisClient();
    try {
      killGroup(doomed.proc.child, 'SIGKILL');
      await doomed.proc.exited;
      // Nobody refreshes the dead replica's providers: their records expire (TTL = PRESENCE_TTL_MS).
      await waitFor('ghost record expired', async () => (await redis.exists(`sb:{dispatch:default}:provider:${ghost.userId}`)) === 0, 20_000, 200);
      const cust = await customer(survivor);
      const created = await emitAck(cust.socket, 'order:create', { pickup: base });
      expect(created).toMatchObject({ ok: true, order: { status: 'offered', providerId: alive.userId } });
      // The stale GEO entry was dropped by the search that met it.
      expect(await redis.zscore('sb:{dispatch:default}:providers', ghost.userId)).toBeNull();
      // A live provider's record is kept alive by its replica well past the TTL.
      expect(await redis.exists(`sb:{dispatch:default}:provider:${alive.userId}`)).toBe(1);
      await emitAck(cust.socket, 'order:cancel', { orderId: created.order.id });
    } finally {
      redis.disconnect();
    }
  });

  it('answers UNAVAILABLE while Redis is down, and works again when it is back', async () => {
    const r = cluster.replicas.find((x) => x.proc.child.exitCode === null && x.proc.child.signalCode === null)!;
    const cust = await customer(r);
    await cluster.killRedis();
    try {
      await waitFor('UNAVAILABLE', async () => {
        const ack = await emitAck(cust.socket, 'order:create', { pickup: { lat: 50, lng: 50 } });
        return ack.ok === false && ack.error.code === 'UNAVAILABLE';
      }, 20_000, 250);
    } finally {
      await cluster.startRedis();
    }
    await waitFor('dispatch back', async () => {
      const ack = await emitAck(cust.socket, 'order:create', { pickup: { lat: 50, lng: 50 } });
      return ack.ok === true && ack.order.status === 'unassigned';
    }, 30_000, 250);
    for (const x of cluster.replicas.filter((x) => x.proc.child.exitCode === null && x.proc.child.signalCode === null)) {
      expect(await unhandledRejections(x.url)).toBe(0);
    }
  });
});
