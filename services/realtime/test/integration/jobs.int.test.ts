import pino from 'pino';
import { JobQueue } from '../../src/jobs';
import { createMetrics } from '../../src/infra/metrics';
import { api, collect, connect, emitAck, login, startCluster, startRedisServer, type Cluster } from '../support/cluster';
import { sleep, waitFor } from '../support/processes';

describe('job queue (BullMQ) shared by replicas', () => {
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  const queues: JobQueue[] = [];
  const make = () => {
    const q = new JobQueue(redis.topology, 'sbt:', pino({ level: 'silent' }), createMetrics(`q${queues.length}`), 4, 'test-queue');
    queues.push(q);
    return q;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await Promise.all(queues.map((q) => q.close()));
    await redis?.stop();
  });

  it('runs each job exactly once with three workers, retries with exponential backoff, tracks status, honours priority', async () => {
    const runs = new Map<string, number>();
    const order: string[] = [];
    const attemptsAt: number[] = [];
    const [a, b, c] = [make(), make(), make()];
    for (const q of [a, b, c]) {
      q.handle('count', async (job) => {
        runs.set(job.id!, (runs.get(job.id!) ?? 0) + 1);
        order.push(job.data.label);
        return 'done';
      });
      q.handle('flaky', async (job) => {
        attemptsAt.push(Date.now());
        if (job.attemptsMade < 2) throw new Error('not yet');
        return `ok after ${job.attemptsMade + 1}`;
      });
    }
    // Queued before any worker runs: priority decides the order (1 is highest).
    const low = await a.add('count', { label: 'low' }, { priority: 10 });
    const high = await a.add('count', { label: 'high' }, { priority: 1 });
    const ids = [low, high];
    for (let i = 0; i < 40; i++) ids.push(await b.add('count', { label: `n${i}` }, { priority: 20 }));
    a.start();
    await waitFor('first two', () => order.length >= 2);
    b.start();
    c.start();
    await waitFor('all processed', () => ids.every((id) => runs.has(id)), 30_000);
    await sleep(300);
    expect(order.slice(0, 2)).toEqual(['high', 'low']);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(runs.size).toBe(42);
    expect(await c.status(high)).toMatchObject({ state: 'completed', returnValue: 'done', name: 'count' });

    const flaky = await c.add('flaky', {}, { attempts: 4, backoff: { type: 'exponential', delay: 200 } });
    await waitFor('flaky completed', async () => (await a.status(flaky))?.state === 'completed', 20_000);
    expect(await a.status(flaky)).toMatchObject({ attemptsMade: 3, returnValue: 'ok after 3' });
    // Exponential: waits of at least 200 then 400 ms (a fixed backoff would wait 200 twice). Compared with
    // the configured delays, not with each other: the worker notices a due retry up to a few hundred ms late.
    const gaps = [attemptsAt[1] - attemptsAt[0], attemptsAt[2] - attemptsAt[1]];
    expect(gaps[0]).toBeGreaterThanOrEqual(200 * 0.9);
    expect(gaps[1]).toBeGreaterThanOrEqual(400 * 0.9);

    const delayed = await a.add('count', { label: 'later' }, { delay: 60_000 });
    expect((await b.status(delayed))?.state).toBe('delayed');
    const stats = await b.stats();
    expect(stats.counts).toMatchObject({ delayed: 1 });
    expect(stats.counts.completed).toBeGreaterThanOrEqual(43);
  });
});

describe('response reminders and maintenance jobs in the service', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 3, env: { REMINDER_DELAY_MS: '1500', CLEANUP_INTERVAL_MS: '1000', WARMUP_INTERVAL_MS: '1000' } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('reminds a mentioned user who does not answer, once, on their devices; not one who answered', async () => {
    const [r1, r2, r3] = cluster.replicas;
    const alice = await connect(r1.url, (await login(r1.url, 'alice')).token);
    const bob = await connect(r2.url, (await login(r2.url, 'bob')).token);
    const bobPhone = await connect(r3.url, (await login(r3.url, 'bob')).token);
    const carol = await connect(r3.url, (await login(r3.url, 'carol')).token);
    for (const s of [alice, bob, carol]) await emitAck(s, 'room:join', { room: 'standup' });
    const bobGot = collect(bob, 'reminder');
    const phoneGot = collect(bobPhone, 'reminder');
    const carolGot = collect(carol, 'reminder');

    const mention = await emitAck(alice, 'message:send', { room: 'standup', text: '@bob and @carol: status?', clientMsgId: 'r-1' });
    await emitAck(carol, 'message:send', { room: 'standup', text: 'on it', clientMsgId: 'r-2' });

    await waitFor('bob reminded', () => bobGot.length > 0 && phoneGot.length > 0, 15_000);
    await sleep(1000);
    expect(bobGot).toHaveLength(1);
    expect(phoneGot).toHaveLength(1);
    expect(bobGot[0]).toMatchObject({ to: 'bob', from: 'alice', room: 'standup', messageId: mention.message.id });
    expect(carolGot).toHaveLength(0);
    for (const s of [alice, bob, bobPhone, carol]) s.close();
  });

  it('keeps a reminder for an offline user and delivers it when they connect', async () => {
    const [r1, r2] = cluster.replicas;
    const alice = await connect(r1.url, (await login(r1.url, 'alice2')).token);
    // Only members of the room are reminded: dave is in it when mentioned, and gone before the reminder fires.
    const daveBefore = await connect(r2.url, (await login(r2.url, 'dave')).token);
    for (const s of [alice, daveBefore]) await emitAck(s, 'room:join', { room: 'async' });
    const mention = await emitAck(alice, 'message:send', { room: 'async', text: 'ping @dave', clientMsgId: 'r-3' });
    daveBefore.close();
    // A reminder's job is its mentioned user's to read (and an operator's).
    const { token } = await login(r1.url, 'dave');
    // The reminder fired while dave was offline, so it was kept for him (not delivered, not dropped).
    const job = await waitFor('reminder kept for dave', async () => {
      const { body } = await api(r1.url, `/api/jobs/reminder-${mention.message.id}-dave`, token);
      return body.job?.state === 'completed' ? body.job : undefined;
    }, 15_000);
    expect(job.returnValue).toBe('stored');
    const dave = await login(r2.url, 'dave');
    const socket = await import('socket.io-client').then(({ io }) => io(r2.url, { auth: { token: dave.token }, transports: ['websocket'], forceNew: true, reconnection: false }));
    const got = collect(socket, 'reminder');
    await waitFor('stored reminder delivered', () => got.length > 0, 10_000);
    expect(got[0]).toMatchObject({ to: 'dave', from: 'alice2', room: 'async' });
    socket.close();
    alice.close();
  });

  it('shows queue statistics and the shared schedules', async () => {
    const { token } = await login(cluster.replicas[0].url, 'ops');
    const stats = await api(cluster.replicas[2].url, '/api/jobs/stats', token);
    expect(stats.body.ok).toBe(true);
    expect(stats.body.schedulers.map((s: { name: string }) => s.name).sort()).toEqual(['cache-warmup', 'cleanup']);
    await waitFor('maintenance ran', async () => (await api(cluster.replicas[1].url, '/api/jobs/stats', token)).body.counts.completed >= 3, 15_000);
    expect((await api(cluster.replicas[0].url, '/api/jobs/nope', token)).status).toBe(400);
    expect((await api(cluster.replicas[0].url, `/api/jobs/reminder-${'0'.repeat(24)}-nobody`, token)).status).toBe(404);
  });
});
