// nginx's upstream members, rendered from the live replicas.
//
// Why not `server realtime:3000` alone: nginx resolves the name to every
// replica, but its hash balancer keys its ring on the `server` string, which
// is the same for all of them, so `hash $sticky consistent` degrades to
// round-robin and a long-polling session loses its replica. One line per
// replica gives each its own ring points: sticky, and consistent on scaling.
// Addresses rather than container names: a reload or nginx restart never
// fails on a name that no longer resolves (a killed replica), and a replica
// that comes back on a new address lost its connections anyway.
import fs from 'node:fs';
import path from 'node:path';
import { listContainers } from './compose';
import { exec } from './exec';
import { settings } from './settings';
import { upstreamDir } from './upstream-dir';

// Re-exported so a caller that renders the upstream has the whole API here.
export { upstreamDir };

const FILE = 'realtime.conf';

/** Makes sure the folder compose mounts exists (with a placeholder until replicas are up). */
export function ensureUpstreamDir(): string {
  const dir = upstreamDir();
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, FILE);
  if (!fs.existsSync(file)) fs.writeFileSync(file, '# rendered by the stack CLI once the replicas run\nserver realtime:3000 max_fails=3 fail_timeout=10s;\n');
  return dir;
}

/** Where a replica in host network mode (the load test's LT_NETWORK=host) says which port it claimed: "<port> <metrics port>". */
export const HOST_PORT_FILE = '/tmp/sb-host-port';

/**
 * One replica's `server` line: its address on its network and port 3000, or,
 * on the host's network (`hostPort`: the content of HOST_PORT_FILE), 127.0.0.1
 * and the port it claimed. Undefined when neither is known.
 */
export function serverLine(name: string, where: { ip?: string; hostPort?: string }): string | undefined {
  if (where.hostPort !== undefined) {
    const port = Number(where.hostPort.trim().split(/\s+/)[0]);
    return Number.isInteger(port) && port > 0 ? `server 127.0.0.1:${port} max_fails=3 fail_timeout=10s;  # ${name}` : undefined;
  }
  return where.ip ? `server ${where.ip}:3000 max_fails=3 fail_timeout=10s;  # ${name}` : undefined;
}

/**
 * Writes one `server` line per running replica (but those in `leaving`);
 * returns the replicas listed (none: the file is left alone).
 */
export async function renderUpstream(leaving: string[] = []): Promise<string[]> {
  const replicas = (await listContainers()).filter(
    (c) => c.service === 'realtime' && (c.state === 'running' || c.state === 'paused') && !leaving.includes(c.replica),
  );
  const lines: string[] = [];
  for (const c of replicas) {
    const r = await exec('docker', ['inspect', '--format', '{{.HostConfig.NetworkMode}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', c.name]);
    if (r.code !== 0) continue;
    const [mode, ip] = r.stdout.trim().split(/\s+/);
    // A replica on the host's network has no address of its own: the port it claimed is in the container.
    const hostPort = mode === 'host' ? (await exec('docker', ['exec', c.name, 'cat', HOST_PORT_FILE])).stdout : undefined;
    const line = serverLine(c.name, { ip, hostPort });
    if (line) lines.push(line);
  }
  if (!lines.length) return [];
  const dir = ensureUpstreamDir();
  const text = `# Rendered by deploy/stack (make up / scale / start) for project "${settings().project}": one line per live replica.\n${lines.join('\n')}\n`;
  fs.writeFileSync(path.join(dir, FILE), text);
  return replicas.map((c) => c.replica);
}
