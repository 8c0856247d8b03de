import { ensureEngine } from '../engine';
import { listContainers } from '../compose';
import { progressOnStderr } from '../log';
import { redisModeOf, rememberedRedisMode } from '../redis-mode';
import { formatTopology, redisTopology } from '../redis-topology';
import { settings } from '../settings';
import type { VerbOptions } from './types';

export async function status(opts: VerbOptions): Promise<number> {
  if (opts.json) progressOnStderr();
  await ensureEngine();
  const rows = await listContainers();
  const mode = redisModeOf(rows.map((r) => r.service)) ?? rememberedRedisMode();
  const redis = rows.length && !process.env.SB_COMPOSE_FILES ? await redisTopology(mode, rows) : undefined;
  if (opts.json) {
    console.log(JSON.stringify({ project: settings().project, containers: rows, ...(redis ? { redis } : {}) }, null, 2));
    return 0;
  }
  if (!rows.length) {
    console.log(`No containers in project "${settings().project}" (make up starts them).`);
    return 0;
  }
  const table = [['CONTAINER', 'SERVICE', 'REPLICA', 'STATE', 'HEALTH', 'STATUS'], ...rows.map((r) => [r.name, r.service, r.replica, r.state, r.health, r.status])];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
  if (redis) console.log(['', ...formatTopology(redis)].join('\n'));
  return 0;
}
