import type { Socket } from 'socket.io-client';
import { collect, connect, emitAck, health, login, startCluster, type Cluster } from '../support/cluster';
import type { PresenceUpdate } from '@switchboard/protocol';
import { sleep, waitFor } from '../support/processes';

/**
 * presence:update reaches only the sockets subscribed to that user (or to
 * everyone), on every replica. "Gets none" is checked against a subscribed
 * witness on the same replica: once the witness has the update, the adapter
 * has delivered that broadcast there, so a socket outside the rooms had its chance.
 */
describe('presence subscriptions across two replicas', () => {
  let cluster: Cluster;
  const sockets: Socket[] = [];
  /** Time for a stray update to arrive after the witness got the same broadcast. */
  const STRAY_MS = 500;

  const open = async (replica: number, userId: string) => {
    const { token } = await login(cluster.replicas[replica].url, userId);
    const s = await connect(cluster.replicas[replica].url, token);
    sockets.push(s);
    return s;
  };
  const about = (updates: PresenceUpdate[], userId: string) => updates.filter((u) => u.userId === userId);

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2 });
  });

  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('delivers updates of a subscribed user from the other replica, to subscribers only, until they unsubscribe', async () => {
    const subscriber = await open(0, 'sub-watcher');
    const bystander = await open(0, 'sub-bystander');
    const witness = await open(0, 'sub-witness');
    const toSubscriber = collect<PresenceUpdate>(subscriber, 'presence:update');
    const toBystander = collect<PresenceUpdate>(bystander, 'presence:update');
    const toWitness = collect<PresenceUpdate>(witness, 'presence:update');

    // The snapshot names every requested user, offline ones too.
    const ack = await emitAck(subscriber, 'presence:subscribe', { userIds: ['sub-pat'] });
    expect(ack).toEqual({ ok: true, users: [{ userId: 'sub-pat', status: 'offline', online: false, devices: 0 }] });
    expect(await emitAck(witness, 'presence:subscribe', { all: true })).toMatchObject({ ok: true });

    const pat = await open(1, 'sub-pat');
    await waitFor('online update on the subscriber', () => about(toSubscriber, 'sub-pat').some((u) => u.online));
    expect(about(toSubscriber, 'sub-pat')).toEqual([{ userId: 'sub-pat', status: 'online', online: true, devices: 1, ts: expect.any(Number) }]);
    expect(await emitAck(pat, 'presence:set', { status: 'busy' })).toEqual({ ok: true });
    await waitFor('status update', () => about(toSubscriber, 'sub-pat').some((u) => u.status === 'busy'));

    // Resubscribing is harmless and returns the current state.
    const again = await emitAck(subscriber, 'presence:subscribe', { userIds: ['sub-pat', 'sub-pat'] });
    expect(again).toEqual({ ok: true, users: [{ userId: 'sub-pat', status: 'busy', online: true, devices: 1 }] });

    expect(await emitAck(subscriber, 'presence:unsubscribe', { userIds: ['sub-pat'] })).toEqual({ ok: true });
    const heardBefore = about(toSubscriber, 'sub-pat').length;
    pat.close();
    await waitFor('offline update on the witness', () => about(toWitness, 'sub-pat').some((u) => !u.online));
    await sleep(STRAY_MS);
    expect(about(toSubscriber, 'sub-pat')).toHaveLength(heardBefore);
    // Nothing ever reached the socket that did not subscribe: not pat, not the others connecting.
    expect(toBystander).toEqual([]);
  });

  it('with all: true, snapshots who is online and delivers every user once, even when also subscribed to that user', async () => {
    const early = await open(0, 'all-early');
    const watcher = await open(1, 'all-watcher');
    const updates = collect<PresenceUpdate>(watcher, 'presence:update');
    expect(await emitAck(watcher, 'presence:subscribe', { userIds: ['all-late'] })).toMatchObject({ ok: true });

    const ack = await emitAck(watcher, 'presence:subscribe', { all: true });
    expect(ack.ok).toBe(true);
    expect(ack.users).toEqual(
      expect.arrayContaining([
        { userId: 'all-early', status: 'online', online: true, devices: 1 },
        { userId: 'all-watcher', status: 'online', online: true, devices: 1 },
      ]),
    );
    expect(ack.users.every((u: { online: boolean }) => u.online)).toBe(true);

    const late = await open(0, 'all-late');
    await waitFor('late user online', () => about(updates, 'all-late').some((u) => u.online));
    early.close();
    await waitFor('early user offline', () => about(updates, 'all-early').some((u) => !u.online));
    await sleep(STRAY_MS);
    // In presence:all and presence:user:all-late: one broadcast, one delivery.
    expect(about(updates, 'all-late')).toHaveLength(1);

    expect(await emitAck(watcher, 'presence:unsubscribe', { all: true })).toEqual({ ok: true });
    const witness = await open(1, 'all-witness');
    const toWitness = collect<PresenceUpdate>(witness, 'presence:update');
    await emitAck(witness, 'presence:subscribe', { all: true });
    const heard = updates.length;
    late.close();
    await waitFor('witness heard late go', () => about(toWitness, 'all-late').some((u) => !u.online));
    await sleep(STRAY_MS);
    // Leaving presence:all keeps the per-user subscription: late's going still arrives.
    expect(updates.slice(heard).map((u) => [u.userId, u.online])).toEqual([['all-late', false]]);
    const stranger = await open(0, 'all-stranger');
    await waitFor('witness heard the stranger', () => about(toWitness, 'all-stranger').length > 0);
    stranger.close();
    await sleep(STRAY_MS);
    expect(about(updates, 'all-stranger')).toEqual([]);
  });

  it('starts every new connection unsubscribed: a reconnecting client subscribes again', async () => {
    const first = await open(0, 're-client');
    await emitAck(first, 'presence:subscribe', { all: true });
    first.close();
    const second = await open(0, 're-client');
    const updates = collect<PresenceUpdate>(second, 'presence:update');
    const witness = await open(0, 're-witness');
    const toWitness = collect<PresenceUpdate>(witness, 'presence:update');
    await emitAck(witness, 'presence:subscribe', { all: true });
    const other = await open(1, 're-other');
    await waitFor('witness heard re-other', () => about(toWitness, 're-other').length > 0);
    await sleep(STRAY_MS);
    expect(updates).toEqual([]);
    other.close();
  });

  it.each([
    ['an empty list', { userIds: [] }],
    ['501 ids', { userIds: Array.from({ length: 501 }, (_, i) => `u${i}`) }],
    ['a bad id', { userIds: ['ok', 'not ok'] }],
    ['both', { userIds: ['x'], all: true }],
    ['neither', {}],
    ['all: false', { all: false }],
    ['no payload', undefined],
    ['a string', 'all'],
  ])('answers VALIDATION to %s, on subscribe and unsubscribe, and keeps serving', async (_what, payload) => {
    const s = await open(0, 'bad-subscriber');
    for (const event of ['presence:subscribe', 'presence:unsubscribe']) {
      const ack = await emitAck(s, event, payload);
      expect(ack).toEqual({ ok: false, error: { code: 'VALIDATION', message: expect.any(String) } });
    }
    expect(s.connected).toBe(true);
    expect(await emitAck(s, 'presence:subscribe', { userIds: ['someone'] })).toMatchObject({ ok: true });
    expect((await health(cluster.replicas[0].url)).body.status).toBe('ok');
  });

  // Last: it restarts Redis under the whole cluster.
  it('keeps subscriptions through a Redis outage, and answers a subscribe meanwhile from this replica, marked degraded', async () => {
    const watcher = await open(0, 'ro-watcher');
    const updates = collect<PresenceUpdate>(watcher, 'presence:update');
    await emitAck(watcher, 'presence:subscribe', { userIds: ['ro-remote'] });

    await cluster.killRedis();
    for (const r of cluster.replicas) {
      await waitFor(`${r.name} degraded`, async () => (await health(r.url)).body.status === 'degraded', 15_000);
    }
    const during = await emitAck(watcher, 'presence:subscribe', { userIds: ['ro-watcher', 'ro-remote'] });
    expect(during).toEqual({
      ok: true,
      degraded: true,
      users: [
        { userId: 'ro-watcher', status: 'online', online: true, devices: 1 },
        { userId: 'ro-remote', status: 'offline', online: false, devices: 0 },
      ],
    });

    await cluster.startRedis();
    for (const r of cluster.replicas) {
      await waitFor(`${r.name} ok again`, async () => (await health(r.url)).body.status === 'ok', 15_000);
    }
    // No resubscribe: the rooms live in the replica's memory, the adapter resubscribed to Redis.
    await open(1, 'ro-remote');
    await waitFor('cross-replica update after the outage', () => about(updates, 'ro-remote').some((u) => u.online), 10_000);
  });
});
