// kill | start | pause | resume --target redis|mongo|nginx|realtime-N (a cluster
// or Sentinel topology: redis-1.., sentinel-1..): docker kill / start / pause /
// unpause of one container, for tests and people.
import { ensureEngine } from '../engine';
import { listContainers } from '../compose';
import { exec, mustExec, sleep } from '../exec';
import { info, StackError, step } from '../log';
import { routeToLiveReplicas } from '../nginx';
import { rememberedRedisMode, REDIS_NODES, SENTINELS, type RedisMode } from '../redis-mode';
import { settings } from '../settings';
import type { Verb, VerbOptions } from './types';

/** The names TARGET= takes in this project's Redis topology. */
function redisTargets(mode: RedisMode): string {
  const nodes = REDIS_NODES[mode];
  const names = nodes.length > 1 ? `${nodes[0]}..${nodes[nodes.length - 1]}` : nodes[0];
  return mode === 'sentinel' ? `${names}|${SENTINELS[0]}..${SENTINELS[SENTINELS.length - 1]}` : names;
}

async function findTarget(target: string | undefined) {
  const mode = rememberedRedisMode();
  if (!target) throw new StackError(`Say which container: TARGET=${redisTargets(mode)}|mongo|nginx|realtime-N.`);
  if (target === 'redis' && mode !== 'single') {
    throw new StackError(`Project "${settings().project}" runs Redis in ${mode} mode: name a node, TARGET=${redisTargets(mode)}.`);
  }
  const replica = /-\d+$/.test(target) ? target : `${target}-1`;
  const containers = (await listContainers()).filter((c) => c.service !== 'redis-cluster-init');
  const found = containers.find((c) => c.replica === replica);
  if (!found) {
    const known = containers.map((c) => c.replica).join(', ') || 'none: is the stack up?';
    throw new StackError(`No container "${target}" in project "${settings().project}" (known: ${known}).`);
  }
  return found;
}

async function waitHealthy(name: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await exec('docker', ['inspect', '--format', '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}', name]);
    const state = r.stdout.trim();
    if (state === 'healthy' || state === 'running') return;
    await sleep(1000);
  }
  throw new StackError(`${name} did not become healthy within ${timeoutMs / 1000} s: see make logs.`);
}

function chaos(dockerVerb: 'kill' | 'start' | 'pause' | 'unpause'): Verb {
  return async (opts: VerbOptions) => {
    await ensureEngine();
    const c = await findTarget(opts.target);
    step(`docker ${dockerVerb} ${c.name}`);
    await mustExec('docker', [dockerVerb, c.name], `docker ${dockerVerb} ${c.name} failed.`);
    if (dockerVerb === 'start') {
      await waitHealthy(c.name);
      info(`${c.name} is healthy`);
      // A restarted replica may come back on another address.
      if (c.service === 'realtime') await routeToLiveReplicas();
    }
  };
}

export const kill = chaos('kill');
export const start = chaos('start');
export const pause = chaos('pause');
export const resume = chaos('unpause');
