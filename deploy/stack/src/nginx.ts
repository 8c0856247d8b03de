// Talking to the stack through nginx, as clients do.
import { exec, sleep } from './exec';
import { info, StackError } from './log';
import { listContainers, type ContainerInfo } from './compose';
import { baseUrl } from './settings';
import { renderUpstream } from './upstream';

/**
 * Renders the upstream from the running replicas and reloads nginx
 * gracefully: new workers route to exactly those; old workers keep the
 * connections they hold until they close.
 */
export async function routeToLiveReplicas(leaving: string[] = []): Promise<void> {
  const listed = await renderUpstream(leaving);
  const nginx = (await listContainers()).find((c) => c.service === 'nginx' && c.state === 'running');
  if (!nginx || !listed.length) return;
  const r = await exec('docker', ['exec', nginx.name, 'nginx', '-s', 'reload']);
  if (r.code !== 0) throw new StackError(`Reloading nginx failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  info(`nginx reloaded: it routes to ${listed.join(', ')}`);
}

export interface Probe {
  cid: string;
  servedBy: string;
  status: number;
  body: { status?: string; [k: string]: unknown };
}

export async function probe(cid: string, url = baseUrl()): Promise<Probe | undefined> {
  try {
    const res = await fetch(`${url}/health?cid=${encodeURIComponent(cid)}`, { signal: AbortSignal.timeout(5000) });
    // nginx's own error pages (502, 504) are HTML: the status says what happened.
    const body = (await res.json().catch(() => ({}))) as Probe['body'];
    return { cid, servedBy: res.headers.get('x-served-by') ?? '', status: res.status, body };
  } catch {
    // No answer (refused, reset, timed out) is an answer here: callers retry until their deadline.
    return undefined;
  }
}

/**
 * Finds one client id per replica (nginx hashes ?cid=) until every expected
 * replica answered `ok`, and no other one did. Retries until the deadline
 * because a reload takes a moment to reach every worker.
 */
export async function checkReplicasThroughNginx(containers: ContainerInfo[], timeoutMs = 60_000, url = baseUrl()): Promise<Map<string, Probe>> {
  const replicas = containers.map((c) => c.replica);
  // X-Served-By is the replica name (realtime-2) or, where the service could
  // not learn it, its hostname: the short container id.
  const replicaOf = (servedBy: string) =>
    containers.find((c) => servedBy === c.replica || servedBy === c.name || servedBy.endsWith(`-${c.replica}`) || (c.id && servedBy === c.id))?.replica;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (true) {
    const seen = new Map<string, Probe>();
    const unexpected = new Set<string>();
    for (let i = 0; i < 300 && seen.size < replicas.length; i++) {
      const p = await probe(`probe-${i}`, url);
      if (!p) continue;
      const replica = replicaOf(p.servedBy);
      if (!replica) {
        unexpected.add(p.servedBy || `(HTTP ${p.status}, no X-Served-By)`);
        continue;
      }
      if (p.status === 200 && p.body.status === 'ok' && !seen.has(replica)) seen.set(replica, p);
    }
    const missing = replicas.filter((r) => !seen.has(r));
    let notSticky = '';
    if (!missing.length && !unexpected.size) {
      // Sticky: the same cid must come back to the same replica. Right after a
      // reload an old worker (still hashing over the previous upstream) may
      // answer one of the two probes, so a mismatch is only final at the deadline.
      for (const [replica, p] of seen) {
        const again = await probe(p.cid, url);
        if (again && replicaOf(again.servedBy) !== replica) {
          notSticky = `?cid=${p.cid} reached ${replica}, then ${again.servedBy}`;
          break;
        }
      }
      if (!notSticky) return seen;
      if (Date.now() > deadline) throw new StackError(`nginx is not sticky: ${notSticky}; check the upstream in .stack/nginx/.`);
    } else {
      last = [missing.length ? `not reached or not ok: ${missing.join(', ')}` : '', unexpected.size ? `answered by unexpected: ${[...unexpected].join(', ')}` : '']
        .filter(Boolean)
        .join('; ');
      if (Date.now() > deadline) throw new StackError(`Not every replica answers /health with ok through nginx at ${url} (${last}); see \`make logs\`.`);
    }
    await sleep(1000);
  }
}
