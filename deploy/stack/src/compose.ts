// `docker compose` for this project: both compose files, the project name from
// SB_PROJECT, and the image variables chosen by images.ts.
import { exec, mustExec, type ExecOptions, type Result } from './exec';
import type { ImageSet } from './images';
import { COMPOSE_FILES, ROOT } from './paths';
import { settings } from './settings';
import { upstreamDir } from './upstream';

export function composeArgs(): string[] {
  const args = ['compose', '-p', settings().project, '--project-directory', ROOT];
  for (const f of COMPOSE_FILES) args.push('-f', f);
  return args;
}

export function composeEnv(images?: Partial<ImageSet>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const s = settings();
  return {
    ...process.env,
    ...images,
    ...extra,
    COMPOSE_PROJECT_NAME: s.project,
    SB_BIND: s.bind,
    SB_HTTP_PORT: String(s.httpPort),
    SB_NGINX_UPSTREAM_DIR: upstreamDir(s.project),
  };
}

export function compose(args: string[], opts: ExecOptions = {}): Promise<Result> {
  return exec('docker', [...composeArgs(), ...args], { env: composeEnv(), ...opts });
}

export function mustCompose(args: string[], failure: string, opts: ExecOptions = {}): Promise<Result> {
  return mustExec('docker', [...composeArgs(), ...args], failure, { env: composeEnv(), ...opts });
}

export interface ContainerInfo {
  /** Short container id: also the container's hostname. */
  id: string;
  name: string;
  service: string;
  /** `realtime-2`, `redis-1`: the compose replica name. */
  replica: string;
  state: string;
  health: string;
  status: string;
}

/** Every container of the project, running or not. */
export async function listContainers(): Promise<ContainerInfo[]> {
  const r = await compose(['ps', '--all', '--format', 'json']);
  if (r.code !== 0) return [];
  const text = r.stdout.trim();
  if (!text) return [];
  // Compose prints one JSON object per line (older versions: one array).
  const rows: Record<string, string>[] = text.startsWith('[') ? JSON.parse(text) : text.split('\n').map((l) => JSON.parse(l));
  return rows
    .map((row) => {
      const number = /(\d+)$/.exec(row.Name)?.[1] ?? '1';
      return {
        id: (row.ID ?? '').slice(0, 12),
        name: row.Name,
        service: row.Service,
        replica: `${row.Service}-${number}`,
        state: row.State,
        health: row.Health || '-',
        status: row.Status,
      };
    })
    .sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name, undefined, { numeric: true }));
}
