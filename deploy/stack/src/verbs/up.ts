import { ADMIN_UI_USER, chooseAdminUi, parseAdminUi } from '../admin-ui';
import { composeEnv, listContainers, mustCompose } from '../compose';
import { info, StackError, step, withProgress } from '../log';
import { checkReplicasThroughNginx, routeToLiveReplicas } from '../nginx';
import { ensureUpstreamDir, renderUpstream } from '../upstream';
import { portFree } from '../ports';
import { parseRedisMode, redisModeOf, rememberedRedisMode, rememberRedisMode, REDIS_NODES, SENTINELS, type RedisMode } from '../redis-mode';
import { describeRedis } from '../redis-topology';
import { baseUrl, settings } from '../settings';
import { checkEngine, prepareImages } from './images';
import type { VerbOptions } from './types';

export function replicaCount(raw: string | undefined, fallback = 3): number {
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 50) throw new StackError(`The replica count must be a whole number from 1 to 50, not "${raw}".`);
  return n;
}

/**
 * The topology to start: the one asked for, else the one the running project
 * has. Switching needs a `make down` first: the nodes of one topology are not
 * the nodes of another, and compose would otherwise leave the old ones running.
 */
async function chooseRedisMode(asked: RedisMode | undefined): Promise<RedisMode> {
  const containers = await listContainers();
  if (!containers.length) return asked ?? 'single';
  // The containers say which topology runs, even when .stack/state was lost.
  const current = redisModeOf(containers.map((c) => c.service)) ?? rememberedRedisMode();
  if (asked && asked !== current) {
    throw new StackError(`Project "${settings().project}" runs Redis in ${current} mode: run make down first, then make up REDIS=${asked}.`);
  }
  return current;
}

export async function up(opts: VerbOptions): Promise<void> {
  const replicas = replicaCount(opts.replicas ?? process.env.REPLICAS);
  const s = settings();
  await checkEngine();
  const mode = await chooseRedisMode(parseRedisMode(opts.redis));
  rememberRedisMode(mode);
  const adminPassword = chooseAdminUi(parseAdminUi(opts['admin-ui']));

  // Our own nginx holds the port on a second `up`; anything else holding it is a clear error now,
  // not a cryptic one from the engine after everything else started.
  const ours = (await listContainers()).some((c) => c.service === 'nginx' && c.state === 'running');
  if (!ours && !(await portFree(s.bind, s.httpPort))) {
    throw new StackError(`Port ${s.httpPort} on ${s.bind} is taken by another program: stop it, or pick another port, e.g. \`make up SB_HTTP_PORT=8081\`.`);
  }
  const images = await prepareImages({ engineChecked: true });

  const env = composeEnv(images, { REPLICAS: String(replicas) });
  const upArgs = ['up', '-d', '--wait', '--wait-timeout', '180', '--no-build', '--remove-orphans', '--scale', `realtime=${replicas}`];
  ensureUpstreamDir();
  // Two phases: the replicas first, so nginx starts with an upstream that
  // lists exactly them (rendered from the running containers).
  // The Redis services named so --wait covers them; a cluster's one-shot
  // (redis-cluster-init) runs first as the replicas' dependency.
  const redisServices = mode === 'single' ? ['redis'] : [...REDIS_NODES[mode], ...(mode === 'sentinel' ? SENTINELS : [])];
  step(`Starting project "${s.project}": ${describeRedis(mode)}, mongo and ${replicas} realtime replicas (waiting until healthy)`);
  await withProgress('docker compose up --wait (redis, mongo, realtime)', () =>
    mustCompose([...upArgs, ...redisServices, 'mongo', 'realtime'], 'The replicas did not become healthy: see `make status` and `make logs`.', { env }),
  );
  await renderUpstream();
  step('Starting nginx');
  await withProgress('docker compose up --wait (nginx)', () =>
    mustCompose(upArgs, 'nginx did not become healthy: see `make status` and `make logs`.', { env }),
  );
  // On a second `up` nginx was already running: make it read the new list.
  await routeToLiveReplicas();

  step('Checking every replica through nginx');
  const names = (await listContainers()).filter((c) => c.service === 'realtime');
  const seen = await checkReplicasThroughNginx(names);
  for (const [replica, p] of seen) info(`${replica}: ok (X-Served-By: ${p.servedBy}, reached with ?cid=${p.cid})`);

  const url = baseUrl(s);
  step('Switchboard is up');
  info(`demo page     ${url}/`);
  info(`health        ${url}/health`);
  info(`redis         ${describeRedis(mode)} (make status shows which node is primary)`);
  info(`socket.io     io("${url}", { auth: { token }, query: { cid } })`);
  info(`login         curl -X POST -H 'content-type: application/json' -d '{"userId":"alice"}' ${url}/api/login`);
  if (adminPassword) {
    info(`admin UI      ${url}/admin/   user ${ADMIN_UI_USER}, password ${adminPassword}`);
    info(`              (the browser asks first, then the UI: server URL ${url}, the same user and password)`);
  } else {
    info('admin UI      off (make up ADMIN_UI=on)');
  }
  info('stop          make down   (make down VOLUMES=1 also removes data)');
}
