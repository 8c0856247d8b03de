import fs from 'node:fs';
import { TEST_REDIS, collect, connect, emitAck, health, login, metricsOf, startCluster, type Cluster } from '../support/cluster';
import { sleep, waitFor } from '../support/processes';

const unhandled = async (url: string) => {
  const line = (await (await fetch(`${metricsOf(url)}/metrics`)).text()).split('\n').find((l) => l.startsWith('sb_unhandled_rejections_total'));
  return Number(line?.split(' ').at(-1));
};

/** CPU seconds a process has used (user + system), from /proc. */
const cpuSeconds = (pid: number) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/**
 * Each adapter delivers across replicas exactly once and comes back by itself
 * after Redis restarts, on every topology (SB_TEST_REDIS). The service refuses
 * classic on a cluster (src/config.ts: it spins while the cluster is down, the
 * CPU check below caught it), so a cluster run tests sharded and streams.
 */
const ADAPTERS = TEST_REDIS === 'cluster' ? ['sharded', 'streams'] : ['classic', 'sharded', 'streams'];
describe.each(ADAPTERS)('REDIS_ADAPTER=%s', (adapter) => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2, env: { REDIS_ADAPTER: adapter } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('delivers across replicas exactly once, before and after a Redis restart', async () => {
    const [r1, r2] = cluster.replicas;
    const a = await connect(r1.url, (await login(r1.url, `a-${adapter}`)).token, { reconnection: true });
    const b = await connect(r2.url, (await login(r2.url, `b-${adapter}`)).token, { reconnection: true });
    await emitAck(a, 'room:join', { room: 'adapters' });
    await emitAck(b, 'room:join', { room: 'adapters' });
    const got = collect(b, 'message:new');
    const first = await emitAck(a, 'message:send', { room: 'adapters', text: 'one', clientMsgId: `${adapter}-1` });
    await waitFor('first delivery', () => got.length >= 1);

    await cluster.killRedis();
    await waitFor('degraded', async () => (await health(r1.url)).body.status === 'degraded', 15_000);
    // An outage must not turn a retry loop into a busy loop.
    const pid = r1.proc.child.pid!;
    const cpuBefore = cpuSeconds(pid);
    await sleep(2000);
    expect(cpuSeconds(pid) - cpuBefore).toBeLessThan(1);
    await cluster.startRedis();
    // A cluster or Sentinel set takes a few seconds more than one server to be whole again.
    await waitFor('ok', async () => (await health(r1.url)).body.status === 'ok' && (await health(r2.url)).body.status === 'ok', 40_000);

    let n = 0;
    await waitFor('delivery resumes', async () => {
      await emitAck(a, 'message:send', { room: 'adapters', text: `after ${n}`, clientMsgId: `${adapter}-after-${n++}` });
      await sleep(300);
      return got.some((m) => m.text.startsWith('after'));
    }, 15_000, 100);
    await sleep(500);
    const ids = got.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]).toBe(first.message.id);
    for (const r of cluster.replicas) expect(await unhandled(r.url)).toBe(0);
    a.close();
    b.close();
  });
});
