// Each replica's /metrics, read from the replica itself: on its internal
// metrics listener (METRICS_PORT, default 9464, which nginx does not proxy) at
// the container's address (127.0.0.1 in host network mode). A replica that has
// no such listener (a service from before METRICS_PORT) is read through nginx
// on the main port instead, with a `cid` that nginx hashes onto it.
import { HOST_PORT_FILE } from '../../deploy/stack/src/upstream';
import { cidPerReplica } from '../harness/scenarios';
import { dockerOut, type ContainerRef } from './cgroup';

export const DEFAULT_METRICS_PORT = 9464;

export interface ReplicaEndpoint {
  replica: string;
  internal: string;
  /** through nginx, found on first need */
  viaNginx?: string;
  /** which one answered last */
  using?: 'internal' | 'nginx';
}

export function internalMetricsUrl(c: Pick<ContainerRef, 'hostNetwork' | 'ip' | 'env'>): string {
  return `http://${c.hostNetwork || !c.ip ? '127.0.0.1' : c.ip}:${c.env.METRICS_PORT || DEFAULT_METRICS_PORT}/metrics`;
}

/** Does X-Served-By name this container (its replica name, container name, or hostname = short id)? */
export function servedByMatches(servedBy: string, c: Pick<ContainerRef, 'name' | 'id'>): boolean {
  return servedBy === c.name || servedBy.endsWith(`-${c.name}`) || (servedBy.length >= 12 && c.id.startsWith(servedBy));
}

export class ReplicaMetrics {
  private nginxLookup?: Promise<void>;

  constructor(readonly endpoints: ReplicaEndpoint[], private readonly nginxUrl: string, private readonly containers: ContainerRef[]) {}

  static async of(containers: ContainerRef[], nginxUrl: string): Promise<ReplicaMetrics> {
    const replicas = containers.filter((c) => /^realtime(-\d+)?$/.test(c.service));
    const endpoints: ReplicaEndpoint[] = [];
    for (const c of replicas) {
      // On the host's network a replica's metrics port is the one it claimed (compose/host-replica.cjs).
      const claimed = c.hostNetwork ? (await dockerOut(['exec', c.id, 'cat', HOST_PORT_FILE])).trim().split(/\s+/)[1] : undefined;
      endpoints.push({ replica: c.name, internal: internalMetricsUrl(claimed ? { ...c, env: { ...c.env, METRICS_PORT: claimed } } : c) });
    }
    return new ReplicaMetrics(endpoints, nginxUrl, replicas);
  }

  /** One cid per replica through nginx, for the fallback (looked up once). */
  private lookupNginx(): Promise<void> {
    return (this.nginxLookup ??= (async () => {
      const found = await cidPerReplica(this.nginxUrl, 'lt-metrics', this.containers.length);
      for (const [servedBy, cid] of found) {
        const c = this.containers.find((x) => servedByMatches(servedBy, x));
        const e = c && this.endpoints.find((x) => x.replica === c.name);
        if (e) e.viaNginx = `${this.nginxUrl}/metrics?cid=${encodeURIComponent(cid)}`;
      }
    })());
  }

  private async fetchText(url: string, timeoutMs: number): Promise<string | undefined> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      const text = await res.text();
      return res.status === 200 ? text : undefined;
    } catch {
      return undefined; // refused, reset or too slow: the caller tries the other way or leaves a gap
    }
  }

  /** Replica name -> its /metrics text (replicas that did not answer are left out). */
  async scrape(timeoutMs = 3000): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    await Promise.all(
      this.endpoints.map(async (e) => {
        if (e.using !== 'nginx') {
          const text = await this.fetchText(e.internal, timeoutMs);
          if (text !== undefined) {
            e.using = 'internal';
            out[e.replica] = text;
            return;
          }
          if (e.using === 'internal') return; // it answered before: down now, not absent
        }
        await this.lookupNginx();
        if (!e.viaNginx) return;
        const text = await this.fetchText(e.viaNginx, timeoutMs);
        if (text !== undefined) {
          e.using = 'nginx';
          out[e.replica] = text;
        }
      }),
    );
    return out;
  }
}
