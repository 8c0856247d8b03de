import { promises as dns } from 'node:dns';
import os from 'node:os';

/**
 * The replica's human name ("realtime-2"). Compose names scaled containers
 * <project>-<service>-<n>, and Docker's embedded DNS answers a reverse lookup of
 * the container's own address with that name, so replicas need no per-replica
 * configuration. INSTANCE_NAME wins when set; the hostname is the fallback.
 */
export async function resolveInstanceName(explicit?: string): Promise<string> {
  if (explicit) return explicit;
  const address = ownIPv4();
  if (address) {
    try {
      // dns.reverse() (getnameinfo) finds nothing under some engines (Docker
      // 20.10); asking the embedded DNS for the PTR record directly works.
      const arpa = `${address.split('.').reverse().join('.')}.in-addr.arpa`;
      // Each lookup answers what it can: no PTR record or no DNS is the normal case outside Docker.
      const names = [
        ...(await withTimeout(dns.reverse(address), 1000).catch(() => [] as string[])),
        ...(await withTimeout(dns.resolvePtr(arpa), 1000).catch(() => [] as string[])),
      ];
      for (const name of names) {
        const match = /^[^.]*?([a-z0-9_]+-\d+)(\.|$)/i.exec(name);
        if (match) return match[1];
      }
    } catch {
      // Not in Docker, or no PTR record: fall through.
    }
  }
  return os.hostname();
}

function ownIPv4(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const iface of list ?? []) {
      if (iface.family === 'IPv4' && !iface.internal) return iface.address;
    }
  }
  return undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);
}
