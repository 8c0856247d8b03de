import fs from 'node:fs';
import path from 'node:path';
import type { Socket } from 'socket.io-client';
import { FAST_PRESENCE, emitAck, login, startCluster, type Cluster, type Replica } from '../support/cluster';
import { dispatchUsers } from '../support/dispatch-users';
import { killGroup, waitFor } from '../support/processes';

/**
 * Orders as durable data, on three replicas and the run's Redis topology: every transition
 * reaches MongoDB through the outbox (also while MongoDB is away, and when the replica that
 * drains it dies), the HTTP routes read it back, and a Redis that comes back without its data
 * gets its active orders back from MongoDB and its providers from the replicas' memory.
 * Each test works around its own coordinates, far from the others' (1 degree ~ 111 km).
 */
const OFFER_TIMEOUT_MS = 25_000;
const OUTBOX_MAX = 40;
const ADMIN = 'dispatch-admin';

const north = (base: { lat: number; lng: number }, km: number) => ({ lat: base.lat + km / 111.2, lng: base.lng });

describe('dispatch: orders in MongoDB, outbox and restore', () => {
  let cluster: Cluster;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    cluster = await startCluster({
      replicas: 3,
      env: {
        ...FAST_PRESENCE,
        DISPATCH_OFFER_TIMEOUT_MS: String(OFFER_TIMEOUT_MS),
        DISPATCH_RADIUS_KM: '5',
        DISPATCH_OUTBOX_MAX: String(OUTBOX_MAX),
        AUTH_DEMO_ADMINS: ADMIN,
        // Each HTTP call below names its own address, so only the rate-limit check shares one.
        TRUST_PROXY: '1',
        RATE_LIMIT_HTTP: '200/60s',
        RATE_LIMIT_LOGINS: '1000/60s',
        // One customer fills the outbox with orders: the per-user order and dispatch limits must not stop it first.
        RATE_LIMIT_ORDERS: '1000/60s',
        RATE_LIMIT_DISPATCH: '1000/60s',
      },
    });
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    await cluster?.stop();
  });

  const live = () => cluster.replicas.filter((r) => r.proc.child.exitCode === null && r.proc.child.signalCode === null);

  const { user, provider, customer } = dispatchUsers(sockets);

  let addresses = 0;
  /** GET with a Bearer token, from an address of its own unless `from` names one. */
  async function get(replica: Replica, route: string, token?: string, from = `10.1.${Math.floor(++addresses / 250)}.${addresses % 250}`) {
    const res = await fetch(`${replica.url}${route}`, { headers: { 'x-forwarded-for': from, ...(token ? { authorization: `Bearer ${token}` } : {}) } });
    return { status: res.status, body: (await res.json()) as any, retryAfter: res.headers.get('retry-after') };
  }

  /** The order and its transitions as MongoDB has them, once both got there with `status` (the order is written first). */
  async function stored(replica: Replica, token: string, orderId: string, status: string, timeoutMs = 30_000) {
    return waitFor(`order ${orderId} stored as ${status}`, async () => {
      const res = await get(replica, `/api/dispatch/orders/${orderId}`, token);
      const last = res.body.transitions?.at(-1);
      return res.status === 200 && res.body.order.status === status && last?.to === status && last.seq === res.body.transitions.length ? res.body : false;
    }, timeoutMs, 200);
  }

  const adminToken = async (replica: Replica) => (await login(replica.url, ADMIN)).token;

  it('stores every order and each of its transitions; the parties read them back on any replica', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const base = { lat: 10, lng: 10 };
    const p1 = await provider(r2, north(base, 0.3));
    const p2 = await provider(r3, north(base, 1));
    const cust = await customer(r1);
    const stranger = await user(r2, 'other');

    const created = await emitAck(cust.socket, 'order:create', { pickup: base });
    expect(created).toMatchObject({ ok: true, order: { status: 'offered', providerId: p1.userId } });
    const orderId = created.order.id as string;
    expect(await emitAck(p1.socket, 'offer:decline', { orderId })).toMatchObject({ ok: true, order: { status: 'offered', providerId: p2.userId } });
    expect(await emitAck(p2.socket, 'offer:accept', { orderId })).toMatchObject({ ok: true, order: { status: 'assigned' } });
    // An order that is under way never expires from Redis.
    const redis = cluster.redisClient();
    try {
      expect(await redis.pttl(`sb:{dispatch:default}:order:${orderId}`)).toBe(-1);
      expect(await emitAck(p2.socket, 'order:complete', { orderId })).toMatchObject({ ok: true, order: { status: 'completed' } });
      // A finished one does, a day after its last change (MongoDB keeps it).
      expect(await redis.pttl(`sb:{dispatch:default}:order:${orderId}`)).toBeGreaterThan(23 * 3600_000);

      const body = await stored(r3, cust.token, orderId, 'completed');
      expect(body.order).toMatchObject({ id: orderId, customerId: cust.userId, status: 'completed', providerId: p2.userId, attempt: 2, pickup: base });
      expect(body.transitions.map((t: any) => [t.seq, t.step, t.from, t.to, t.providerId])).toEqual([
        [1, 'create', null, 'searching', null],
        [2, 'offer', 'searching', 'offered', p1.userId],
        [3, 'decline', 'offered', 'searching', p1.userId],
        [4, 'offer', 'searching', 'offered', p2.userId],
        [5, 'accept', 'offered', 'assigned', p2.userId],
        [6, 'complete', 'assigned', 'completed', p2.userId],
      ]);
      expect(body.transitions.every((t: any, i: number) => i === 0 || t.at >= body.transitions[i - 1].at)).toBe(true);

      // Its provider reads it on another replica; the one that declined, and anyone else, may not.
      expect((await get(r1, `/api/dispatch/orders/${orderId}`, p2.token)).body).toMatchObject({ ok: true, order: { id: orderId } });
      expect((await get(r1, '/api/dispatch/orders', p2.token)).body.orders.map((o: any) => o.id)).toEqual([orderId]);
      expect((await get(r2, '/api/dispatch/orders', p1.token)).body).toEqual({ ok: true, orders: [], nextCursor: null });
      for (const token of [p1.token, stranger.token]) {
        const res = await get(r2, `/api/dispatch/orders/${orderId}`, token);
        expect([res.status, res.body.error?.code]).toEqual([403, 'FORBIDDEN']);
      }
      expect((await get(r2, `/api/dispatch/orders/${orderId}`, await adminToken(r2))).body).toMatchObject({ ok: true, order: { id: orderId } });
      const missing = await get(r2, '/api/dispatch/orders/no-such-order', cust.token);
      expect([missing.status, missing.body.error?.code]).toEqual([404, 'NOT_FOUND']);
      const bad = await get(r2, '/api/dispatch/orders/bad%20id!', cust.token);
      expect([bad.status, bad.body.error?.code]).toEqual([400, 'VALIDATION']);

      // Once Redis has let the order go, order:get answers from MongoDB, to its parties only.
      await redis.del(`sb:{dispatch:default}:order:${orderId}`);
      expect(await emitAck(cust.socket, 'order:get', { orderId })).toMatchObject({ ok: true, order: { id: orderId, status: 'completed', providerId: p2.userId } });
      expect(await emitAck(p2.socket, 'order:get', { orderId })).toMatchObject({ ok: true, order: { status: 'completed' } });
      expect(await emitAck(stranger.socket, 'order:get', { orderId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    } finally {
      redis.disconnect();
    }
  });

  it('pages a user’s orders with a cursor, validates every query parameter, and rate-limits the routes', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const cust = await customer(r1);
    const other = await user(r2, 'other');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      // Nobody is within 1 km of the middle of the ocean: each order ends unassigned.
      const ack = await emitAck(cust.socket, 'order:create', { pickup: { lat: -50, lng: -140 + i * 0.001 }, radiusKm: 1 });
      expect(ack).toMatchObject({ ok: true, order: { status: 'unassigned' } });
      ids.push(ack.order.id);
    }
    await waitFor('five orders stored', async () => (await get(r2, '/api/dispatch/orders?limit=100', cust.token)).body.orders?.length === 5, 30_000, 200);
    const all = (await get(r2, '/api/dispatch/orders', cust.token)).body.orders as Array<{ id: string; createdAt: number }>;
    expect(new Set(all.map((o) => o.id))).toEqual(new Set(ids));
    expect(all.every((o, i) => i === 0 || o.createdAt <= all[i - 1].createdAt)).toBe(true);

    // Pages of two on three replicas: 2 + 2 + 1, newest first, nothing twice, nothing missed.
    const seen: string[] = [];
    let cursor: string | null = null;
    const sizes: number[] = [];
    for (const r of [r1, r2, r3]) {
      const res = await get(r, `/api/dispatch/orders?limit=2${cursor ? `&cursor=${cursor}` : ''}`, cust.token);
      expect(res.status).toBe(200);
      sizes.push(res.body.orders.length);
      seen.push(...res.body.orders.map((o: any) => o.id));
      cursor = res.body.nextCursor;
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(cursor).toBeNull();
    expect(seen).toEqual(all.map((o) => o.id));
    expect((await get(r3, '/api/dispatch/orders?role=customer&limit=3', cust.token)).body.orders.map((o: any) => o.id)).toEqual(seen.slice(0, 3));
    expect((await get(r3, '/api/dispatch/orders?role=provider', cust.token)).body).toEqual({ ok: true, orders: [], nextCursor: null });
    expect((await get(r3, '/api/dispatch/orders', other.token)).body).toEqual({ ok: true, orders: [], nextCursor: null });

    const admin = await adminToken(r1);
    const refused: Array<[string, string, number, string]> = [
      ['/api/dispatch/orders?limit=0', cust.token, 400, 'VALIDATION'],
      ['/api/dispatch/orders?limit=101', cust.token, 400, 'VALIDATION'],
      ['/api/dispatch/orders?limit=abc', cust.token, 400, 'VALIDATION'],
      ['/api/dispatch/orders?limit=1&limit=2', cust.token, 400, 'VALIDATION'],
      ['/api/dispatch/orders?unknown=1', cust.token, 400, 'VALIDATION'],
      ['/api/dispatch/orders?cursor=garbage', cust.token, 400, 'VALIDATION'],
      [`/api/dispatch/orders?cursor=${Buffer.from('12.x y').toString('base64url')}`, cust.token, 400, 'VALIDATION'],
      ['/api/dispatch/orders?role=admin', cust.token, 400, 'VALIDATION'],
      ['/api/dispatch/orders?active=1', cust.token, 403, 'FORBIDDEN'],
      ['/api/dispatch/orders?active=2', admin, 400, 'VALIDATION'],
      ['/api/dispatch/orders?active=1&role=customer', admin, 400, 'VALIDATION'],
      ['/api/dispatch/orders', '', 401, 'UNAUTHORIZED'],
      ['/api/dispatch/providers?lat=1&lng=1', cust.token, 403, 'FORBIDDEN'],
      ['/api/dispatch/providers?lat=1&lng=1', '', 401, 'UNAUTHORIZED'],
      ['/api/dispatch/providers?lng=1', admin, 400, 'VALIDATION'],
      ['/api/dispatch/providers?lat=&lng=1', admin, 400, 'VALIDATION'],
      ['/api/dispatch/providers?lat=91&lng=1', admin, 400, 'VALIDATION'],
      ['/api/dispatch/providers?lat=1&lng=abc', admin, 400, 'VALIDATION'],
      ['/api/dispatch/providers?lat=1e1&lng=1', admin, 400, 'VALIDATION'],
      ['/api/dispatch/providers?lat=1&lng=1&radiusKm=0', admin, 400, 'VALIDATION'],
      ['/api/dispatch/providers?lat=1&lng=1&radiusKm=101', admin, 400, 'VALIDATION'],
      ['/api/dispatch/providers?lat=1&lng=1&limit=501', admin, 400, 'VALIDATION'],
      ['/api/dispatch/providers?lat=1&lng=1&extra=1', admin, 400, 'VALIDATION'],
    ];
    for (const [route, token, status, code] of refused) {
      const res = await get(r2, route, token || undefined);
      expect({ route, status: res.status, code: res.body.error?.code }).toEqual({ route, status, code });
    }

    // Every route is charged to the caller's address ('http' class, RATE_LIMIT_HTTP=200/60s here).
    const from = '10.250.0.1';
    let limited: Awaited<ReturnType<typeof get>> | undefined;
    for (let i = 0; i < 220 && !limited; i++) {
      const route = ['/api/dispatch/orders?limit=x', '/api/dispatch/orders/bad%20id', '/api/dispatch/providers?lat=x'][i % 3];
      const res = await get(r1, route, cust.token, from);
      if (res.status === 429) limited = res;
    }
    expect(limited?.body.error).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(limited?.retryAfter)).toBeGreaterThan(0);
  });

  it('admins list the online providers near a point and every active order', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const base = { lat: 20, lng: 20 };
    const pa = await provider(r1, north(base, 0.5));
    const pb = await provider(r2, north(base, 1));
    const pc = await provider(r3, north(base, 2));
    const far = await provider(r1, north(base, 30));
    const cust = await customer(r2);
    const o1 = (await emitAck(cust.socket, 'order:create', { pickup: base })).order;
    expect(await emitAck(pa.socket, 'offer:accept', { orderId: o1.id })).toMatchObject({ ok: true, order: { status: 'assigned' } });
    const o2 = (await emitAck(cust.socket, 'order:create', { pickup: base })).order;
    expect(o2).toMatchObject({ status: 'offered', providerId: pb.userId });
    const admin = await adminToken(r3);

    const near = await get(r3, `/api/dispatch/providers?lat=${base.lat}&lng=${base.lng}&radiusKm=5`, admin);
    expect(near.status).toBe(200);
    expect(near.body.providers.map((p: any) => [p.userId, p.status, p.orderId])).toEqual([
      [pa.userId, 'busy', o1.id],
      [pb.userId, 'offered', o2.id],
      [pc.userId, 'available', null],
    ]);
    expect(near.body.providers.map((p: any) => Math.round(p.distanceKm * 10) / 10)).toEqual([0.5, 1, 2]);
    expect(near.body.providers[0]).toMatchObject({ lat: north(base, 0.5).lat, lng: base.lng, socket: pa.socket.id });
    // The default radius (DISPATCH_RADIUS_KM) and a limit.
    expect((await get(r1, `/api/dispatch/providers?lat=${base.lat}&lng=${base.lng}`, admin)).body.providers).toHaveLength(3);
    expect((await get(r1, `/api/dispatch/providers?lat=${base.lat}&lng=${base.lng}&limit=2`, admin)).body.providers.map((p: any) => p.userId)).toEqual([
      pa.userId,
      pb.userId,
    ]);
    expect((await get(r1, `/api/dispatch/providers?lat=${base.lat}&lng=${base.lng}&radiusKm=50`, admin)).body.providers.map((p: any) => p.userId)).toContain(far.userId);

    // Every active order, a page of one at a time: both of these, once each; a cancelled one leaves the list.
    const activeIds = async () => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await get(r2, `/api/dispatch/orders?active=1&limit=1${cursor ? `&cursor=${cursor}` : ''}`, admin);
        expect(res.status).toBe(200);
        expect(res.body.orders.every((o: any) => ['searching', 'offered', 'assigned'].includes(o.status))).toBe(true);
        ids.push(...res.body.orders.map((o: any) => o.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      return ids;
    };
    await waitFor('both orders listed as active', async () => {
      const ids = await activeIds();
      return ids.filter((id) => id === o1.id).length === 1 && ids.filter((id) => id === o2.id).length === 1;
    }, 30_000, 300);
    expect(await emitAck(cust.socket, 'order:cancel', { orderId: o2.id })).toMatchObject({ ok: true });
    await waitFor('the cancelled order leaves the active list', async () => !(await activeIds()).includes(o2.id), 30_000, 300);
    expect(await activeIds()).toContain(o1.id);
    expect(await emitAck(pa.socket, 'order:complete', { orderId: o1.id })).toMatchObject({ ok: true });
  });

  it('MongoDB away: steps go on, transitions wait in Redis, new orders stop at the outbox limit, and all reach MongoDB when it is back, though the replica draining them died', async () => {
    const redis = cluster.redisClient();
    try {
      // The replica holding the outbox lock is the one that will die; the users stay away from it.
      const holder = await waitFor('outbox lock holder', () => redis.get('sb:{dispatch:default}:outbox-lock'));
      const doomed = live().find((r) => holder.startsWith(`${r.name}-`))!;
      expect(doomed).toBeDefined();
      const [ra, rb] = live().filter((r) => r !== doomed);
      const base = { lat: 30, lng: 30 };
      const p = await provider(ra, north(base, 0.5));
      const cust = await customer(rb);

      await cluster.killMongo();
      const created = await emitAck(cust.socket, 'order:create', { pickup: base });
      expect(created).toMatchObject({ ok: true, order: { status: 'offered', providerId: p.userId } });
      const orderId = created.order.id as string;
      expect(await emitAck(p.socket, 'offer:accept', { orderId })).toMatchObject({ ok: true, order: { status: 'assigned' } });
      expect(await emitAck(p.socket, 'order:complete', { orderId })).toMatchObject({ ok: true, order: { status: 'completed' } });
      expect(await redis.xlen('sb:{dispatch:default}:outbox')).toBeGreaterThanOrEqual(4);
      const away = await get(ra, `/api/dispatch/orders/${orderId}`, cust.token);
      expect([away.status, away.body.error?.code]).toEqual([503, 'UNAVAILABLE']);

      // New orders stop at DISPATCH_OUTBOX_MAX waiting transitions; steps on existing orders go on.
      let refusal: any;
      const backlog: string[] = [];
      for (let i = 0; i < OUTBOX_MAX && !refusal; i++) {
        const ack = await emitAck(cust.socket, 'order:create', { pickup: { lat: -51, lng: -141 }, radiusKm: 1 });
        if (ack.ok) backlog.push(ack.order.id);
        else refusal = ack;
      }
      expect(refusal).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      expect(refusal.error.message).toMatch(/MongoDB/);
      expect(await emitAck(cust.socket, 'order:cancel', { orderId: backlog[0] })).toMatchObject({ ok: true, order: { status: 'cancelled' } });

      // The writer dies with its batch unwritten: another replica takes the lock when it expires.
      killGroup(doomed.proc.child, 'SIGKILL');
      await doomed.proc.exited;
      await cluster.startMongo();

      const body = await stored(rb, cust.token, orderId, 'completed', 60_000);
      expect(body.transitions.map((t: any) => [t.seq, t.step, t.to])).toEqual([
        [1, 'create', 'searching'],
        [2, 'offer', 'offered'],
        [3, 'accept', 'assigned'],
        [4, 'complete', 'completed'],
      ]);
      const first = await stored(ra, cust.token, backlog[0], 'cancelled');
      expect(first.transitions.map((t: any) => t.step)).toEqual(['create', 'offer', 'cancel']);
      await waitFor('outbox drained', async () => (await redis.xlen('sb:{dispatch:default}:outbox')) === 0, 30_000, 200);
      expect(await redis.get('sb:{dispatch:default}:outbox-lock')).not.toBe(holder);
      expect(await emitAck(cust.socket, 'order:create', { pickup: { lat: -51, lng: -141 }, radiusKm: 1 })).toMatchObject({ ok: true });
    } finally {
      redis.disconnect();
      if (live().length < 3) await cluster.startReplica('realtime-4'); // three replicas again for the next test
    }
  });

  it('Redis comes back without its data: active orders are restored from MongoDB and end where they should', async () => {
    const [r1, r2, r3] = live();
    const base = { lat: 40, lng: 40 };
    const a = await provider(r1, north(base, 0.3));
    const b = await provider(r2, north(base, 0.6));
    const d = await provider(r3, north(base, 1));
    const base3 = { lat: 41, lng: 41 };
    const c = await provider(r2, north(base3, 0.3));
    const f = await provider(r3, north(base3, 1));
    const cust = await customer(r1);
    const cust3 = await customer(r3);

    const o1 = (await emitAck(cust.socket, 'order:create', { pickup: base })).order; // offered to a, who answers after the loss
    expect(o1).toMatchObject({ status: 'offered', providerId: a.userId });
    const o2 = (await emitAck(cust.socket, 'order:create', { pickup: base })).order; // assigned to b
    expect(o2).toMatchObject({ status: 'offered', providerId: b.userId });
    expect(await emitAck(b.socket, 'offer:accept', { orderId: o2.id })).toMatchObject({ ok: true, order: { status: 'assigned' } });
    const o3 = (await emitAck(cust3.socket, 'order:create', { pickup: base3 })).order; // offered to c, who never answers
    expect(o3).toMatchObject({ status: 'offered', providerId: c.userId });
    const o4 = (await emitAck(cust.socket, 'order:create', { pickup: { lat: 42, lng: 42 }, radiusKm: 1 })).order; // nobody near
    expect(o4.status).toBe('unassigned');
    const o5 = (await emitAck(cust.socket, 'order:create', { pickup: base })).order; // cancelled: not restored
    expect(o5).toMatchObject({ status: 'offered', providerId: d.userId });
    expect(await emitAck(cust.socket, 'order:cancel', { orderId: o5.id })).toMatchObject({ ok: true });
    for (const [o, status, token] of [[o1, 'offered', cust.token], [o2, 'assigned', cust.token], [o3, 'offered', cust3.token], [o4, 'unassigned', cust.token], [o5, 'cancelled', cust.token]] as const) {
      await stored(r2, token, o.id, status);
    }

    // MongoDB is away too at first: the restore waits for it, and every step answers UNAVAILABLE meanwhile.
    await cluster.killMongo();
    await cluster.killRedis();
    for (const node of cluster.redis.dataNodes()) {
      const dir = (node as unknown as { dir?: string }).dir;
      if (!dir) throw new Error(`${node.name}: no data directory to empty`);
      fs.rmSync(path.join(dir, 'appendonlydir'), { recursive: true, force: true });
      fs.rmSync(path.join(dir, 'dump.rdb'), { force: true });
    }
    await cluster.startRedis();
    await waitFor('steps refused while the orders are not restored', async () => {
      const ack = await emitAck(d.socket, 'provider:location', north(base, 1));
      return ack.ok === false && ack.error.code === 'UNAVAILABLE' && /restoring/.test(ack.error.message);
    }, 60_000, 250);
    expect(await emitAck(cust.socket, 'order:create', { pickup: base })).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    expect(await emitAck(a.socket, 'offer:accept', { orderId: o1.id })).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    await cluster.startMongo();
    await waitFor('dispatch restored', async () => (await emitAck(d.socket, 'provider:location', north(base, 1))).ok === true, 60_000, 250);

    // Each order is where it was, with its provider's status back.
    expect(await emitAck(cust.socket, 'order:get', { orderId: o1.id })).toMatchObject({ ok: true, order: { status: 'offered', providerId: a.userId, attempt: 1 } });
    expect(await emitAck(cust.socket, 'order:get', { orderId: o2.id })).toMatchObject({ ok: true, order: { status: 'assigned', providerId: b.userId } });
    expect(await emitAck(cust3.socket, 'order:get', { orderId: o3.id })).toMatchObject({ ok: true, order: { status: 'offered', providerId: c.userId } });
    expect(await emitAck(cust.socket, 'order:get', { orderId: o4.id })).toMatchObject({ ok: true, order: { status: 'unassigned' } });
    expect(await emitAck(cust.socket, 'order:get', { orderId: o5.id })).toMatchObject({ ok: true, order: { status: 'cancelled' } });

    // The offered one is accepted by its provider, the assigned one completed; the customer hears it.
    expect(await emitAck(a.socket, 'offer:accept', { orderId: o1.id })).toMatchObject({ ok: true, order: { status: 'assigned', providerId: a.userId } });
    expect(await emitAck(b.socket, 'order:complete', { orderId: o2.id })).toMatchObject({ ok: true, order: { status: 'completed' } });
    await waitFor('customer told o2 completed', () => cust.updates.some((u) => u.id === o2.id && u.status === 'completed'));

    // The replicas announced their providers again from memory: locations, sockets, statuses.
    const admin = await adminToken(r2); // sessions were lost with Redis too
    await waitFor('providers announced again', async () => {
      const res = await get(r2, `/api/dispatch/providers?lat=${base.lat}&lng=${base.lng}&radiusKm=3`, admin);
      const seen = Object.fromEntries((res.body.providers ?? []).map((p: any) => [p.userId, `${p.status}:${p.orderId ?? '-'}:${p.socket}`]));
      return (
        seen[a.userId] === `busy:${o1.id}:${a.socket.id}` && seen[b.userId] === `available:-:${b.socket.id}` && seen[d.userId] === `available:-:${d.socket.id}`
      );
    }, 30_000, 300);
    // A new order is offered at once to the nearest available one.
    const o6 = await emitAck(cust.socket, 'order:create', { pickup: base });
    expect(o6).toMatchObject({ ok: true, order: { status: 'offered', providerId: b.userId } });
    await emitAck(cust.socket, 'order:cancel', { orderId: o6.order.id });

    // c never answers: its restored offer times out and goes to f, never back to c.
    await waitFor('o3 offered to f', () => f.offers.some((o) => o.orderId === o3.id), 60_000, 250);
    await waitFor('c told of the timeout', () => c.revoked.some((r) => r.orderId === o3.id && r.reason === 'timeout'));
    expect(c.offers.filter((o) => o.orderId === o3.id)).toHaveLength(1);
    expect(await emitAck(f.socket, 'offer:accept', { orderId: o3.id })).toMatchObject({ ok: true, order: { status: 'assigned', providerId: f.userId, attempt: 2 } });

    // The unassigned one searches again when its customer widens it, and a provider is there.
    const g = await provider(r1, { lat: 42.01, lng: 42 });
    expect(await emitAck(cust.socket, 'order:update', { orderId: o4.id, radiusKm: 3 })).toMatchObject({ ok: true, order: { status: 'offered', providerId: g.userId } });

    // The history says where the restore happened.
    const custToken = (await login(r1.url, cust.userId)).token;
    const h1 = await stored(r3, custToken, o1.id, 'assigned');
    expect(h1.transitions.map((t: any) => t.step)).toEqual(['create', 'offer', 'restore', 'accept']);
    for (const r of live()) {
      const text = await (await fetch(`${r.metricsUrl}/metrics`)).text();
      expect(text).toMatch(/^sb_unhandled_rejections_total\{[^}]*\} 0$/m);
    }
  }, 240_000);
});
