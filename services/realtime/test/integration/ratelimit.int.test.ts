import { io as ioClient } from 'socket.io-client';
import { CONNECT_ERRORS } from '@switchboard/protocol';
import { connect, emitAck, health, login, startCluster, type Cluster } from '../support/cluster';
import { waitFor } from '../support/processes';

describe('rate limits shared by every replica', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      replicas: 3,
      // TRUST_PROXY=1: these replicas stand behind nginx, which sets X-Forwarded-For.
      // RATE_LIMIT_PRESENCE raised: the flood test's heartbeats must meet the per-socket limit first.
      env: { RATE_LIMIT_MESSAGES: '30/60s', RATE_LIMIT_LOGINS: '5/60s', RATE_LIMIT_EVENTS: '200/1s', RATE_LIMIT_PRESENCE: '100000/60s', TRUST_PROXY: '1' },
    });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('admits exactly the limit when one user hammers three replicas at once', async () => {
    const sockets = await Promise.all(
      cluster.replicas.map(async (r) => {
        const { token } = await login(r.url, 'hammer');
        const s = await connect(r.url, token);
        await emitAck(s, 'room:join', { room: 'anvil' });
        return s;
      }),
    );
    const acks = await Promise.all(
      sockets.flatMap((s, i) =>
        Array.from({ length: 20 }, (_, n) => emitAck(s, 'message:send', { room: 'anvil', text: `blow ${i}.${n}`, clientMsgId: `h-${i}-${n}` })),
      ),
    );
    const admitted = acks.filter((a) => a.ok);
    const limited = acks.filter((a) => !a.ok);
    expect(admitted).toHaveLength(30);
    expect(limited).toHaveLength(30);
    for (const a of limited) {
      expect(a.error).toMatchObject({ code: 'RATE_LIMITED' });
      expect(a.error.retryAfterMs).toBeGreaterThan(0);
      expect(a.error.retryAfterMs).toBeLessThanOrEqual(60_000);
    }
    for (const s of sockets) s.close();
  });

  it('counts the spares other replicas hold: one user sending through three replicas still gets exactly the limit', async () => {
    // From an address of its own: the other tests here spend 127.0.0.1's five logins.
    const res = await fetch(`${cluster.replicas[0].url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.30' },
      body: JSON.stringify({ userId: 'rotator' }),
    });
    const { token } = (await res.json()) as { token: string };
    const [a, b, c] = await Promise.all(
      cluster.replicas.map(async (r) => {
        const s = await connect(r.url, token);
        await emitAck(s, 'room:join', { room: 'carousel' });
        return s;
      }),
    );
    let n = 0;
    const send = (s: typeof a) => emitAck(s, 'message:send', { room: 'carousel', text: `turn ${n}`, clientMsgId: `c-${n++}` });
    // Well under the limit, the first send through A and through B each leave a spare there.
    const acks = [await send(a), await send(b)];
    // C sends until refused: the two spares held on A and B count against the limit meanwhile.
    for (let i = 0; i < 40 && acks.at(-1)?.ok !== false; i++) acks.push(await send(c));
    expect(acks.at(-1)).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
    // A and B spend their spares: admitted, and the total is still exactly the limit.
    acks.push(await send(a), await send(b));
    expect(acks.slice(-2).map((x) => x.ok)).toEqual([true, true]);
    expect(acks.filter((x) => x.ok)).toHaveLength(30);
    expect(await send(a)).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
    for (const s of [a, b, c]) s.close();
  });

  it('answers 429 with Retry-After when one address logs in too often', async () => {
    const url = cluster.replicas[1].url;
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' },
        body: JSON.stringify({ userId: `burst-${i}` }),
      });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        expect(await res.json()).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('refuses a flood of events on one socket and keeps it connected', async () => {
    const { token } = await login(cluster.replicas[0].url, 'flooder');
    const s = await connect(cluster.replicas[0].url, token);
    const acks = await Promise.all(Array.from({ length: 1000 }, () => emitAck(s, 'presence:heartbeat')));
    const limited = acks.filter((a) => a.error?.code === 'RATE_LIMITED').length;
    expect(acks.filter((a) => a.ok).length).toBe(200);
    expect(limited).toBe(800);
    expect(s.connected).toBe(true);
    s.close();
  });

  it('falls back to an in-memory limiter while Redis is down and says so in /health', async () => {
    const r = cluster.replicas[2];
    const { token } = await login(r.url, 'offline-limits');
    const s = await connect(r.url, token, { reconnection: true });
    await emitAck(s, 'room:join', { room: 'fallback' });
    await cluster.killRedis();
    try {
      await waitFor('degraded', async () => (await health(r.url)).body.status === 'degraded', 15_000);
      const acks = [];
      for (let i = 0; i < 35; i++) acks.push(await emitAck(s, 'message:send', { room: 'fallback', text: `m${i}`, clientMsgId: `fb-${i}` }));
      expect(acks.filter((a) => a.ok)).toHaveLength(30);
      expect(acks.filter((a) => a.error?.code === 'RATE_LIMITED')).toHaveLength(5);
      expect((await health(r.url)).body.services.ratelimit).toBe('memory');
    } finally {
      await cluster.startRedis();
    }
    await waitFor('ok again', async () => (await health(r.url)).body.status === 'ok', 15_000);
    s.close();
  });
});

describe('a replica with no proxy in front (TRUST_PROXY unset)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 1, env: { RATE_LIMIT_LOGINS: '3/60s', RATE_LIMIT_HANDSHAKES: '3/60s' } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('ignores a client-written X-Forwarded-For, so a new address per request does not reset the login limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${cluster.replicas[0].url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${i + 1}` },
        body: JSON.stringify({ userId: `spoof-${i}` }),
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  it('counts handshakes by the connection\'s own address too, before the token is even read', async () => {
    const refusals: string[] = [];
    for (let i = 0; i < 5; i++) {
      const socket = ioClient(cluster.replicas[0].url, {
        auth: {},
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        extraHeaders: { 'x-forwarded-for': `198.51.100.${i + 1}` },
      });
      refusals.push(await new Promise<string>((resolve) => socket.once('connect_error', (err) => resolve(err.message))));
      socket.close();
    }
    // No token: refused by the token check while under the limit, by the limit after.
    expect(refusals).toEqual([CONNECT_ERRORS.unauthorized, CONNECT_ERRORS.unauthorized, CONNECT_ERRORS.unauthorized, CONNECT_ERRORS.rateLimited, CONNECT_ERRORS.rateLimited]);
  });
});
