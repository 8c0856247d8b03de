import { composeEnv, listContainers, mustCompose } from '../compose';
import { info, StackError, step, withProgress } from '../log';
import { checkReplicasThroughNginx, routeToLiveReplicas } from '../nginx';
import { settings } from '../settings';
import { prepareImages } from './images';
import { replicaCount } from './up';
import type { VerbOptions } from './types';

/**
 * Adds or removes replicas live. --no-recreate keeps the replicas that stay
 * (and their connections) untouched; nginx is reloaded once the new set is
 * healthy so it routes to exactly the live replicas.
 */
export async function scale(opts: VerbOptions): Promise<void> {
  if (!opts.replicas) throw new StackError('Say how many replicas: make scale N=5.');
  const replicas = replicaCount(opts.replicas);
  const images = await prepareImages({ rebuildService: false });
  if (!(await listContainers()).some((c) => c.service === 'nginx' && c.state === 'running')) {
    throw new StackError(`Project "${settings().project}" is not running: start it with make up.`);
  }
  // Scaling down: compose removes the highest-numbered replicas. Take them out
  // of nginx first, so no new client lands on a replica that is draining.
  const running = (await listContainers()).filter((c) => c.service === 'realtime' && c.state !== 'exited');
  const byNumber = running.sort((a, b) => Number(a.replica.split('-').pop()) - Number(b.replica.split('-').pop()));
  const leaving = byNumber.slice(replicas).map((c) => c.replica);
  if (leaving.length) await routeToLiveReplicas(leaving);
  step(`Scaling realtime to ${replicas} replicas`);
  await withProgress('docker compose up --scale', () =>
    mustCompose(
      ['up', '-d', '--wait', '--wait-timeout', '180', '--no-build', '--no-recreate', '--scale', `realtime=${replicas}`],
      'Scaling failed: see `make status` and `make logs`.',
      { env: composeEnv(images, { REPLICAS: String(replicas) }) },
    ),
  );
  await routeToLiveReplicas();
  const names = (await listContainers()).filter((c) => c.service === 'realtime' && c.state === 'running');
  await checkReplicasThroughNginx(names);
  info(`nginx routes to exactly ${names.map((c) => c.replica).join(', ')}`);
}
