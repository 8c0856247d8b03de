import mongoose from 'mongoose';
import type { Socket } from 'socket.io-client';
import { CONNECT_ERRORS } from '@switchboard/protocol';
import { FAST_PRESENCE, api, collect, connect, emitAck, login, startCluster, type Cluster } from '../support/cluster';
import { sleep, waitFor } from '../support/processes';
import { watchCommands } from '../support/redis-commands';

/**
 * A limit on every event, and bounded state per connection: the per-user
 * classes of every socket event across three replicas and both namespaces,
 * the handshake limits (per address, sockets per user), the caps on rooms,
 * presence ids and mentions, reminders for members only, and reminder
 * records that expire.
 */
describe('a limit on every event and bounded state per connection', () => {
  let cluster: Cluster;
  const sockets: Socket[] = [];
  // Every test connects from addresses of its own (X-Forwarded-For, TRUST_PROXY=1): the handshake limit is per address.
  let addressSeq = 0;
  const newAddress = () => `198.51.100.${++addressSeq}`;

  /** A socket of `userId` on replica `r` from `address`; rejects with the connect_error (its message and data). */
  const open = async (r: number, userId: string, opts: { address?: string; nsp?: string; token?: string } = {}): Promise<Socket> => {
    const url = cluster.replicas[r].url;
    const token = opts.token ?? (await login(url, userId)).token;
    const socket = await connect(`${url}${opts.nsp ?? ''}`, token, { headers: { 'x-forwarded-for': opts.address ?? newAddress() } });
    sockets.push(socket);
    return socket;
  };

  /** Sends `n` events one after the other, round robin over `from`; returns their acks. */
  const oneByOne = async (from: Socket[], n: number, event: string, payload?: (i: number) => unknown) => {
    const acks: any[] = [];
    for (let i = 0; i < n; i++) {
      const s = from[i % from.length];
      acks.push(await (payload ? emitAck(s, event, payload(i)) : emitAck(s, event)));
    }
    return acks;
  };
  const codes = (acks: any[]) => acks.map((a) => (a.ok ? 'ok' : a.error.code));
  const expectLimited = (acks: any[], admitted: number, admittedCode = 'ok') => {
    expect(codes(acks)).toEqual([...Array(admitted).fill(admittedCode), ...Array(acks.length - admitted).fill('RATE_LIMITED')]);
    for (const a of acks.slice(admitted)) expect(a.error.retryAfterMs).toBeGreaterThan(0);
  };

  beforeAll(async () => {
    cluster = await startCluster({
      replicas: 3,
      env: {
        ...FAST_PRESENCE,
        TRUST_PROXY: '1',
        RATE_LIMIT_LOGINS: '1000/60s',
        RATE_LIMIT_PRESENCE: '6/60s',
        RATE_LIMIT_TYPING: '6/60s',
        RATE_LIMIT_LOCATION: '6/60s',
        RATE_LIMIT_HISTORY: '6/60s',
        RATE_LIMIT_DISPATCH: '6/60s',
        RATE_LIMIT_ORDERS: '3/60s',
        RATE_LIMIT_HANDSHAKES: '8/60s',
        SOCKETS_PER_USER_MAX: '3',
        ROOMS_PER_SOCKET_MAX: '3',
        PRESENCE_IDS_PER_SOCKET_MAX: '5',
        MENTIONS_PER_MESSAGE_MAX: '2',
        REMINDER_DELAY_MS: '1000',
        REMINDER_RETENTION_MS: '6000',
        CLEANUP_INTERVAL_MS: '1000',
      },
    });
  });

  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  describe('per-user classes, shared by the replicas', () => {
    it('presence: presence:set and presence:heartbeat from three replicas share one limit', async () => {
      const from = await Promise.all([0, 1, 2].map((r) => open(r, 'beater')));
      const acks = await oneByOne(from, 9, 'presence:heartbeat');
      acks.push(await emitAck(from[1], 'presence:set', { status: 'away' }));
      expectLimited(acks, 6);
    });

    it('typing: relayed at most the limit, and a typing the socket may not send costs nothing', async () => {
      const typist = await Promise.all([0, 1, 2].map((r) => open(r, 'typist')));
      const reader = await open(1, 'reader');
      for (const s of [...typist, reader]) expect(await emitAck(s, 'room:join', { room: 'keys' })).toMatchObject({ ok: true });
      const heard = collect(reader, 'typing');
      // Authorized before the limit is charged: typing in a room not joined is FORBIDDEN every time, and spends nothing.
      const refused = await oneByOne(typist, 8, 'typing', () => ({ room: 'elsewhere', typing: true }));
      expect(new Set(codes(refused))).toEqual(new Set(['FORBIDDEN']));
      const acks = await oneByOne(typist, 9, 'typing', (i) => ({ room: 'keys', typing: i % 2 === 0 }));
      expectLimited(acks, 6);
      await sleep(500);
      expect(heard).toHaveLength(6);
    });

    it('location: region:update and /dispatch provider:location share one limit', async () => {
      const main = await open(0, 'mover');
      const dispatch = await open(2, 'mover', { nsp: '/dispatch' });
      const acks = await oneByOne([main], 3, 'region:update', (i) => ({ lat: 48 + i, lng: 2 }));
      // provider:location before provider:online is FORBIDDEN, after the limit was charged.
      acks.push(...(await oneByOne([dispatch], 5, 'provider:location', () => ({ lat: 48, lng: 2 }))));
      expect(codes(acks)).toEqual(['ok', 'ok', 'ok', 'FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN', 'RATE_LIMITED', 'RATE_LIMITED']);
    });

    it('history: history:sync of any room name, from three replicas', async () => {
      const from = await Promise.all([0, 1, 2].map((r) => open(r, 'reader-of-all')));
      expectLimited(await oneByOne(from, 9, 'history:sync', (i) => ({ room: `nowhere-${i}` })), 6);
    });

    it('dispatch and orders: every /dispatch event is charged, order:create to a class of its own', async () => {
      const from = await Promise.all([0, 1, 2].map((r) => open(r, 'orderer', { nsp: '/dispatch' })));
      const orders = await oneByOne(from, 5, 'order:create', (i) => ({ pickup: { lat: -40, lng: -100 + i }, radiusKm: 1 }));
      expectLimited(orders, 3);
      expectLimited(await oneByOne(from, 8, 'provider:offline'), 6);
    });

    it('a user well under a frequent class is admitted without a rate-limit round trip', async () => {
      const s = await open(0, 'light-user');
      const dispatch = await open(0, 'light-user', { nsp: '/dispatch' });
      expect(await emitAck(s, 'room:join', { room: 'light' })).toMatchObject({ ok: true });
      const events = (step: number) => [
        () => emitAck(s, 'typing', { room: 'light', typing: step === 0 }),
        () => emitAck(s, 'presence:heartbeat'),
        () => emitAck(dispatch, 'provider:offline'),
        () => emitAck(s, 'region:update', { lat: 10 + step / 1000, lng: 10 }),
      ];
      // The rate-limit calls sent on the connection events wait on (the background one records spares later).
      const rateLimitCalls = async (step: number) => {
        const watch = await watchCommands(cluster);
        const acks: unknown[] = [];
        const sending = (async () => {
          for (const send of events(step)) acks.push(await send());
        })();
        await sending.catch(() => undefined);
        const seen = await watch.stop();
        await sending;
        for (const ack of acks) expect(ack).toMatchObject({ ok: true });
        // EVALSHA's arguments: <sha> <number of keys> <key> ...
        return seen.filter((c) => c.client === 'sb-command' && c.args.some((a) => a.includes('{rl:'))).map((c) => c.args[2]);
      };
      // The first event of each class asks Redis, and leaves a spare on this replica...
      expect((await rateLimitCalls(0)).sort()).toEqual(['dispatch', 'location', 'presence', 'typing'].map((cls) => `sb:{rl:${cls}:user:light-user}`));
      await sleep(1500);
      // ...which the next one spends without asking.
      expect(await rateLimitCalls(1)).toEqual([]);
    });
  });

  describe('handshakes', () => {
    it('refuses a handshake over the limit of its address, in both namespaces and on every replica', async () => {
      const address = newAddress();
      for (let i = 0; i < 8; i++) (await open(i % 3, `storm-${i}`, { address, nsp: i % 2 ? '/dispatch' : '' })).close();
      const refused = await open(1, 'storm-8', { address }).catch((err) => err);
      expect(refused).toBeInstanceOf(Error);
      expect(refused.message).toBe(CONNECT_ERRORS.rateLimited);
      expect(refused.data).toMatchObject({ code: 'RATE_LIMITED' });
      expect(refused.data.retryAfterMs).toBeGreaterThan(0);
      // Another address is not affected.
      expect((await open(2, 'storm-8', { nsp: '/dispatch' })).connected).toBe(true);
    });

    it('caps a user\'s live connections across replicas, and frees a place when one closes', async () => {
      const [a, b] = [await open(0, 'many'), await open(1, 'many')];
      await open(2, 'many');
      for (const r of [0, 1, 2]) {
        const refused = await open(r, 'many').catch((err) => err);
        expect(refused.message).toBe(CONNECT_ERRORS.tooManyConnections);
        expect(refused.data).toMatchObject({ code: 'RATE_LIMITED', max: 3 });
      }
      a.close();
      await waitFor('a place free', async () => (await open(2, 'many').then((s) => s.connected, () => false)), 10_000);
      expect(b.connected).toBe(true);
    });

    it('admits exactly the cap when a user opens many sockets at once on one replica', async () => {
      const { token } = await login(cluster.replicas[0].url, 'burst');
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => open(0, 'burst', { token })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      for (const r of results) if (r.status === 'rejected') expect((r.reason as Error).message).toBe(CONNECT_ERRORS.tooManyConnections);
    });

    it('caps a user\'s /dispatch connections on each replica', async () => {
      const { token } = await login(cluster.replicas[0].url, 'dispatcher');
      for (let i = 0; i < 3; i++) await open(0, 'dispatcher', { token, nsp: '/dispatch' });
      expect((await open(0, 'dispatcher', { token, nsp: '/dispatch' }).catch((err) => err)).message).toBe(CONNECT_ERRORS.tooManyConnections);
    });
  });

  describe('state per connection', () => {
    it('caps the rooms of a socket; a rejoin, and a join after a leave, pass', async () => {
      const s = await open(0, 'roomer');
      for (const room of ['r1', 'r2', 'r3']) expect(await emitAck(s, 'room:join', { room })).toMatchObject({ ok: true });
      const over = await emitAck(s, 'room:join', { room: 'r4' });
      expect(over).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
      expect(over.error.message).toMatch(/3 rooms/);
      expect(await emitAck(s, 'room:join', { room: 'r1' })).toMatchObject({ ok: true });
      expect(await emitAck(s, 'room:leave', { room: 'r1' })).toMatchObject({ ok: true });
      expect(await emitAck(s, 'room:join', { room: 'r4' })).toMatchObject({ ok: true });
      // Joins sent together pass the cap no more than one by one.
      const other = await open(1, 'roomer-2');
      const together = await Promise.all(['t1', 't2', 't3', 't4', 't5'].map((room) => emitAck(other, 'room:join', { room })));
      expect(codes(together).sort()).toEqual(['VALIDATION', 'VALIDATION', 'ok', 'ok', 'ok']);
    });

    it('caps the users a socket follows by id; everyone, and ids it follows already, pass', async () => {
      const s = await open(2, 'watcher');
      expect(await emitAck(s, 'presence:subscribe', { userIds: ['u1', 'u2', 'u3'] })).toMatchObject({ ok: true });
      expect(await emitAck(s, 'presence:subscribe', { userIds: ['u3', 'u4', 'u5'] })).toMatchObject({ ok: true });
      const over = await emitAck(s, 'presence:subscribe', { userIds: ['u6'] });
      expect(over).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
      expect(await emitAck(s, 'presence:subscribe', { userIds: ['u1', 'u5'] })).toMatchObject({ ok: true });
      expect(await emitAck(s, 'presence:subscribe', { all: true })).toMatchObject({ ok: true });
      expect(await emitAck(s, 'presence:unsubscribe', { userIds: ['u1'] })).toMatchObject({ ok: true });
      expect(await emitAck(s, 'presence:subscribe', { userIds: ['u6'] })).toMatchObject({ ok: true });
    });

    it('refuses a message with more mentions than the cap, and reminds only members of the room', async () => {
      const alice = await open(0, 'alice');
      const bob = await open(1, 'bob');
      for (const s of [alice, bob]) await emitAck(s, 'room:join', { room: 'standup' });
      const crowded = await emitAck(alice, 'message:send', { room: 'standup', text: '@bob @carol @dave news', clientMsgId: 'm-1' });
      expect(crowded).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
      const reminded = collect(bob, 'reminder');
      const sent = await emitAck(alice, 'message:send', { room: 'standup', text: '@bob @carol news', clientMsgId: 'm-2' });
      expect(sent).toMatchObject({ ok: true });
      await waitFor('bob reminded', () => reminded.length > 0, 15_000);
      // carol is no member of the room: no job was made for her.
      const { token } = await login(cluster.replicas[0].url, 'ops');
      expect((await api(cluster.replicas[2].url, `/api/jobs/reminder-${sent.message.id}-bob`, token)).status).toBe(200);
      expect((await api(cluster.replicas[2].url, `/api/jobs/reminder-${sent.message.id}-carol`, token)).status).toBe(404);
    });

    it('deletes a kept reminder REMINDER_RETENTION_MS after its mention', async () => {
      const alice = await open(0, 'alice-2');
      const dave = await open(1, 'dave');
      for (const s of [alice, dave]) await emitAck(s, 'room:join', { room: 'later' });
      const sent = await emitAck(alice, 'message:send', { room: 'later', text: 'ping @dave', clientMsgId: 'm-3' });
      dave.close();
      const db = await mongoose.createConnection(cluster.mongoUrl).asPromise();
      try {
        const kept = () => db.collection('reminders').countDocuments({ _id: `reminder-${sent.message.id}-dave` as never });
        // Fired while dave was offline: kept for him, then deleted by the cleanup job.
        await waitFor('reminder kept', async () => (await kept()) === 1, 15_000);
        await waitFor('reminder deleted', async () => (await kept()) === 0, 20_000);
        expect(Date.now() - sent.message.ts).toBeGreaterThanOrEqual(6000);
      } finally {
        await db.close();
      }
    });
  });
});
