// kill | start | pause | resume --target redis|mongo|nginx|realtime-N (a cluster
// or Sentinel topology: redis-1.., sentinel-1..): docker kill / start / pause /
// unpause of one container, for tests and people. disconnect | reconnect
// --target T [--network N]: docker network disconnect / connect (a network
// cut and its end); reload: nginx re-reads its upstream gracefully.
import { ensureEngine } from '../engine';
import { listContainers } from '../compose';
import { exec, mustExec, sleep } from '../exec';
import { info, StackError, step } from '../log';
import { attachments, disconnectFrom, pickNetworks, reconnectAll } from '../network-cuts';
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

/**
 * Cuts one container from its networks (`--network`: that one only, e.g. the
 * load test's `redis`), as a broken link would: no container is stopped, its
 * connections stall instead of closing.
 */
export async function disconnect(opts: VerbOptions): Promise<void> {
  await ensureEngine();
  const c = await findTarget(opts.target);
  const cut = pickNetworks(await attachments(c.name), opts.network);
  step(`docker network disconnect ${c.name} from ${cut.map((a) => a.network).join(', ')}`);
  await disconnectFrom(c.name, cut);
  info(`${c.name} is cut off; make reconnect TARGET=${c.replica} puts it back on the same address`);
}

/** Puts back what `disconnect` cut; nginx re-reads its upstream when a replica's address changed. */
export async function reconnect(opts: VerbOptions): Promise<void> {
  await ensureEngine();
  const c = await findTarget(opts.target);
  step(`docker network connect ${c.name}`);
  const back = await reconnectAll(c.name);
  for (const b of back) info(`${b.network}: ${b.ip}${b.sameAddress ? ' (the same address)' : ' (a new address: its connections from before the cut are gone)'}`);
  if (c.service === 'realtime' && back.some((b) => !b.sameAddress)) await routeToLiveReplicas();
}

/** nginx renders its upstream from the live replicas and reloads: new workers take new connections, old ones keep theirs. */
export async function reload(): Promise<void> {
  await ensureEngine();
  step('Reloading nginx (graceful: no connection is dropped)');
  const nginx = (await listContainers()).find((c) => c.service === 'nginx' && c.state === 'running');
  if (!nginx) throw new StackError('No running nginx in this project: is the stack up (make status)?');
  await routeToLiveReplicas();
}
