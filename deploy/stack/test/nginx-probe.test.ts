// The check `make up` and `make scale` run through nginx, against a small HTTP
// server that answers like nginx in front of three replicas: right after a
// reload, old workers still hash over the previous upstream, so the same
// ?cid= can reach two replicas for a moment. No Docker needed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ContainerInfo } from '../src/compose';
import { checkReplicasThroughNginx } from '../src/nginx';

const REPLICAS = ['realtime-1', 'realtime-2', 'realtime-3'];
const containers: ContainerInfo[] = REPLICAS.map((replica, i) => ({
  id: `c0ffee00000${i}`,
  name: `sbtest-${replica}`,
  service: 'realtime',
  replica,
  state: 'running',
  health: 'healthy',
  status: 'Up',
}));

const hash = (cid: string) => [...cid].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);

/** Answers /health?cid= from the replica the cid hashes to; while `flapping()` every second answer for a cid comes from the next replica. */
async function fakeNginx(flapping: () => boolean): Promise<{ url: string; close(): Promise<void> }> {
  const asked = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const cid = new URL(req.url ?? '/', 'http://x').searchParams.get('cid') ?? '';
    const n = asked.get(cid) ?? 0;
    asked.set(cid, n + 1);
    const shift = flapping() ? n % 2 : 0;
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-served-by', REPLICAS[(hash(cid) + shift) % REPLICAS.length]);
    res.end(JSON.stringify({ status: 'ok' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('checkReplicasThroughNginx', () => {
  it('waits out a reload that routes one client id to two replicas for a moment', async () => {
    const settledAt = Date.now() + 1500;
    const nginx = await fakeNginx(() => Date.now() < settledAt);
    try {
      const seen = await checkReplicasThroughNginx(containers, 20_000, nginx.url);
      expect([...seen.keys()].sort()).toEqual(REPLICAS);
      expect(Date.now()).toBeGreaterThanOrEqual(settledAt);
    } finally {
      await nginx.close();
    }
  });

  it('says nginx is not sticky when a client id keeps reaching two replicas', async () => {
    const nginx = await fakeNginx(() => true);
    try {
      await expect(checkReplicasThroughNginx(containers, 2500, nginx.url)).rejects.toThrow(/nginx is not sticky: \?cid=probe-\d+ reached realtime-\d, then realtime-\d/);
    } finally {
      await nginx.close();
    }
  });
});
