// Which Redis topology a project runs: single (docker-compose.yml alone),
// cluster or sentinel (an overlay file each). `make up REDIS=...` chooses;
// the choice is remembered per project in .stack/state/<project>.json so
// status, scale, kill and down use the same compose files. `make down`
// forgets it once no container of the project is left.
import fs from 'node:fs';
import path from 'node:path';
import { readIfExists } from './errno';
import { StackError } from './log';
import { ROOT, STATE_DIR } from './paths';
import { settings } from './settings';

export const REDIS_MODES = ['single', 'cluster', 'sentinel'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

/** The overlay each topology adds to docker-compose.yml and docker-compose.scale.yml. */
export const REDIS_OVERLAYS: Record<RedisMode, string | undefined> = {
  single: undefined,
  cluster: path.join(ROOT, 'docker-compose.redis-cluster.yml'),
  sentinel: path.join(ROOT, 'docker-compose.redis-sentinel.yml'),
};

/** The Redis services of each topology, in the order status lists them. */
export const REDIS_NODES: Record<RedisMode, string[]> = {
  single: ['redis'],
  cluster: ['redis-1', 'redis-2', 'redis-3', 'redis-4', 'redis-5', 'redis-6'],
  sentinel: ['redis-1', 'redis-2'],
};
export const SENTINELS = ['sentinel-1', 'sentinel-2', 'sentinel-3'];

export function parseRedisMode(raw: string | undefined): RedisMode | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!(REDIS_MODES as readonly string[]).includes(raw)) throw new StackError(`REDIS must be one of ${REDIS_MODES.join(', ')}, not "${raw}".`);
  return raw as RedisMode;
}

/** The topology a project's containers run (by their service names), or undefined when none of them is Redis. */
export function redisModeOf(services: Iterable<string>): RedisMode | undefined {
  const names = new Set(services);
  if (names.has(SENTINELS[0])) return 'sentinel';
  if (names.has(REDIS_NODES.cluster[REDIS_NODES.cluster.length - 1])) return 'cluster';
  return names.has('redis') ? 'single' : undefined;
}

function stateFile(project = settings().project): string {
  return path.join(STATE_DIR, `${project}.json`);
}

/** The topology `make up` last started for this project (single when none). */
export function rememberedRedisMode(project = settings().project): RedisMode {
  const file = stateFile(project);
  const text = readIfExists(file);
  if (text === undefined) return 'single';
  let saved: { redis?: string };
  try {
    saved = JSON.parse(text) as { redis?: string };
  } catch {
    throw new StackError(`${path.relative(ROOT, file)} is not JSON (a write cut short?): remove it; the next make up writes it again.`);
  }
  return parseRedisMode(saved.redis) ?? 'single';
}

export function rememberRedisMode(mode: RedisMode, project = settings().project): void {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  fs.writeFileSync(stateFile(project), `${JSON.stringify({ redis: mode }, null, 2)}\n`);
}

export function forgetRedisMode(project = settings().project): void {
  fs.rmSync(stateFile(project), { force: true });
}
