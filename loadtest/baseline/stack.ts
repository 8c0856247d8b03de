// Starts and removes the stock baseline as its own compose project, with the
// stack CLI's own modules (engine, images, compose, rendered sticky upstream,
// health through nginx): `node --import tsx loadtest/baseline/stack.ts up|down`
// with SB_PROJECT and SB_HTTP_PORT set by the load test.
import fs from 'node:fs';
import path from 'node:path';
import { composeEnv, listContainers, mustCompose } from '../../deploy/stack/src/compose';
import { ensureEngine } from '../../deploy/stack/src/engine';
import { exec } from '../../deploy/stack/src/exec';
import { dockerBuild, resolveImages } from '../../deploy/stack/src/images';
import { info, StackError, step, withProgress } from '../../deploy/stack/src/log';
import { checkReplicasThroughNginx } from '../../deploy/stack/src/nginx';
import { settings } from '../../deploy/stack/src/settings';
import { ensureUpstreamDir, renderUpstream, upstreamDir } from '../../deploy/stack/src/upstream';

const DIR = __dirname;
// LT_EXTRA_COMPOSE: overrides the load test adds (fixed addresses), colon-separated.
process.env.SB_COMPOSE_FILES = [path.relative(path.resolve(DIR, '../..'), path.join(DIR, 'docker-compose.yml')), ...(process.env.LT_EXTRA_COMPOSE ?? '').split(':').filter(Boolean)].join(':');
const IMAGE = process.env.BASELINE_IMAGE || 'switchboard/stock-baseline:local';

async function buildImage(nodeImage: string): Promise<void> {
  const ca = process.env.SB_BUILD_CA ?? '/etc/ssl/certs/ca-certificates.crt';
  const caDir = path.join(DIR, '.build-ca');
  fs.rmSync(caDir, { recursive: true, force: true });
  if (ca !== 'none' && fs.existsSync(ca)) {
    fs.mkdirSync(caDir);
    fs.copyFileSync(ca, path.join(caDir, 'ca.crt'));
  }
  try {
    await dockerBuild({ tag: IMAGE, context: DIR, dockerfile: path.join(DIR, 'Dockerfile'), buildArgs: { NODE_IMAGE: nodeImage }, what: `the stock baseline image ${IMAGE}` });
  } finally {
    fs.rmSync(caDir, { recursive: true, force: true });
  }
}

async function up(replicas: number): Promise<void> {
  await ensureEngine();
  const images = await resolveImages();
  await buildImage(images.NODE_IMAGE);
  const env = composeEnv(images, { REPLICAS: String(replicas), BASELINE_IMAGE: IMAGE });
  const args = ['up', '-d', '--wait', '--wait-timeout', '120', '--no-build', '--remove-orphans', '--scale', `realtime=${replicas}`];
  ensureUpstreamDir();
  step(`Starting the stock baseline "${settings().project}": redis and ${replicas} bare Socket.IO replicas`);
  await withProgress('docker compose up --wait (redis, realtime)', () => mustCompose([...args, 'redis', 'realtime'], 'The baseline replicas did not become healthy.', { env }));
  await renderUpstream();
  await withProgress('docker compose up --wait (nginx)', () => mustCompose(args, 'The baseline nginx did not become healthy.', { env }));
  const seen = await checkReplicasThroughNginx((await listContainers()).filter((c) => c.service === 'realtime'));
  for (const [replica, p] of seen) info(`${replica}: ok (reached with ?cid=${p.cid})`);
}

async function down(): Promise<void> {
  await ensureEngine();
  await mustCompose(['down', '--remove-orphans', '--volumes', '--timeout', '10'], 'docker compose down failed for the baseline.');
  fs.rmSync(upstreamDir(), { recursive: true, force: true });
  info(`baseline project "${settings().project}" removed`);
}

const [verb, n] = process.argv.slice(2);
(verb === 'up' ? up(Number(n || 3)) : verb === 'down' ? down() : Promise.reject(new StackError('usage: stack.ts up [replicas] | down'))).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof StackError ? `ERROR: ${e.message}\n${e.details ?? ''}` : e);
    void exec;
    process.exit(1);
  },
);
