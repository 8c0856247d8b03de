// Server errors of one chaos phase, from what the clients got and from the
// containers' own logs over the phase (docker logs --since/--until, cheap on a
// fresh project): acks with code INTERNAL, the 5xx answers nginx gave (its
// chaos configuration logs each one, lib/stacks.ts nginxConfLogging5xx), the
// lines nginx logged at [error] or worse (an upstream refused, reset or timed
// out), and each replica's lines at error level (pino's JSON level >= 50, or
// any line on stderr that is not JSON: a stack trace, the stock server's
// console.error).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ServerErrors {
  /** acks with code INTERNAL the clients got: sends, and the joins and syncs of the resync */
  internalAcks: number;
  /** 5xx answers nginx gave, by status (503 is also the service's own UNAVAILABLE while Redis or MongoDB is down) */
  http5xx: Record<string, number>;
  /** nginx error-log lines at [error] or worse */
  nginxErrorLines: number;
  /** per replica: log lines at error level or worse */
  replicaErrorLines: Record<string, number>;
  /** why a log could not be read (the figures above then miss it) */
  unreadable?: string[];
}

/** A replica's log line at error level: pino's JSON with level >= 50, or anything on stderr that is not JSON. */
export function isErrorLine(line: string, fromStderr: boolean): boolean {
  const t = line.trim();
  if (!t) return false;
  if (t.startsWith('{')) {
    try {
      const level = (JSON.parse(t) as { level?: unknown }).level;
      return typeof level === 'number' && level >= 50;
    } catch {
      return fromStderr;
    }
  }
  return fromStderr;
}

/** nginx's 5xx log lines (`<status> <method> <uri>`), counted by status. */
export function count5xx(stdout: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of stdout.split('\n')) {
    const status = /^(5\d\d) /.exec(line.trim())?.[1];
    if (status) out[status] = (out[status] ?? 0) + 1;
  }
  return out;
}

/** nginx error-log lines at [error], [crit], [alert] or [emerg]. */
export const countNginxErrors = (stderr: string): number => stderr.split('\n').filter((l) => /\[(error|crit|alert|emerg)\]/.test(l)).length;

/** docker logs accepts Unix seconds with a fraction. */
const unixSeconds = (ms: number) => (ms / 1000).toFixed(3);

export async function phaseServerErrors(project: string, fromMs: number, toMs: number, clientInternal: number): Promise<ServerErrors> {
  const out: ServerErrors = { internalAcks: clientInternal, http5xx: {}, nginxErrorLines: 0, replicaErrorLines: {} };
  const ps = await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}} {{.Label "com.docker.compose.service"}}']).catch(() => ({ stdout: '' }));
  const containers = ps.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ') as [string, string])
    .filter(([, service]) => service === 'realtime' || service === 'nginx');
  for (const [name, service] of containers) {
    const logs = await run('docker', ['logs', '--since', unixSeconds(fromMs), '--until', unixSeconds(toMs), name], { maxBuffer: 64 << 20 }).catch((e: Error & { stdout?: string; stderr?: string }) => {
      (out.unreadable ??= []).push(`${name}: ${e.message.split('\n')[0]}`);
      return undefined;
    });
    if (!logs) continue;
    if (service === 'nginx') {
      for (const [status, n] of Object.entries(count5xx(logs.stdout))) out.http5xx[status] = (out.http5xx[status] ?? 0) + n;
      out.nginxErrorLines += countNginxErrors(logs.stderr);
    } else {
      const replica = name.slice(project.length + 1);
      out.replicaErrorLines[replica] = logs.stdout.split('\n').filter((l) => isErrorLine(l, false)).length + logs.stderr.split('\n').filter((l) => isErrorLine(l, true)).length;
    }
  }
  return out;
}
