// `docker compose` for this project: both compose files, the project name from
// SB_PROJECT, and the image variables chosen by images.ts.
import path from 'node:path';
import { adminUiPassword } from './admin-ui';
import { exec, mustExec, type ExecOptions, type Result } from './exec';
import type { ImageSet } from './images';
import { COMPOSE_FILES, ROOT } from './paths';
import { rememberedRedisMode, REDIS_OVERLAYS, type RedisMode } from './redis-mode';
import { settings } from './settings';
import { upstreamDir } from './upstream-dir';

/**
 * The compose files: the stack's own plus the overlay of the project's Redis
 * topology (redis-mode.ts), unless SB_COMPOSE_FILES names others
 * (colon-separated, relative to the repository root). The load test uses it to
 * run its stock baseline (loadtest/baseline/docker-compose.yml) with the same
 * project, upstream and health helpers.
 */
export function composeFiles(env: NodeJS.ProcessEnv = process.env, mode: RedisMode = rememberedRedisMode()): string[] {
  const list = env.SB_COMPOSE_FILES?.split(':').filter(Boolean);
  if (list?.length) return list.map((f) => path.resolve(ROOT, f));
  const overlay = REDIS_OVERLAYS[mode];
  return overlay ? [...COMPOSE_FILES, overlay] : COMPOSE_FILES;
}

export function composeArgs(): string[] {
  const args = ['compose', '-p', settings().project, '--project-directory', ROOT];
  for (const f of composeFiles()) args.push('-f', f);
  return args;
}

export function composeEnv(images?: Partial<ImageSet>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const s = settings();
  // The admin UI's password is the project's (admin-ui.ts), whatever this shell says: a
  // replica started by scale or start must not differ from the others.
  const { ADMIN_UI_PASSWORD: _ignored, ...env } = process.env;
  const adminPassword = adminUiPassword(s.project);
  return {
    ...env,
    ...images,
    ...extra,
    ...(adminPassword ? { ADMIN_UI_PASSWORD: adminPassword } : {}),
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
  /**
   * What people call it (TARGET=): `realtime-2`, `mongo-1`: service and
   * container number; a service whose name already ends in a number
   * (`redis-1` of a cluster, `sentinel-2`) is called by its name.
   */
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
        replica: /-\d+$/.test(row.Service) ? row.Service : `${row.Service}-${number}`,
        state: row.State,
        health: row.Health || '-',
        status: row.Status,
      };
    })
    .sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name, undefined, { numeric: true }));
}
