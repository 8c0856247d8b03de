// Proves that `make test` can install what it needs on a machine that has
// nothing: CI machines keep redis-server, Chromium and the tools from earlier
// runs, which hides a missing install step. A container from the bare Debian
// base image gets only what a fresh machine of ours has (the host's Node 20
// with npm and Go, mounted read-only; the docker client; git, make and gcc from
// apt), then a clean clone of HEAD runs the install steps and checks each
// result (scripts/fresh-install-steps.sh). Downloads are cached on the host:
// the install steps are under test, not the network.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureDaemon } from '../engine';
import { readIfExists } from '../errno';
import { exec, mustExec, tail } from '../exec';
import { BASE_IMAGE, ensureBaseImage } from '../images';
import { info, StackError, step } from '../log';
import { ROOT, STACK_DIR } from '../paths';

const CHECK_DIR = path.join(STACK_DIR, 'fresh-install');
const LOG_DIR = path.join(CHECK_DIR, 'logs');
const APT_CACHE = path.join(CHECK_DIR, 'apt-archives');
const STEPS = path.join(ROOT, 'scripts/fresh-install-steps.sh');
/** The machine's own Node (20 on ours: older than the project needs, so ensure-node fetches 24). */
const MACHINE_NODE = process.env.SB_FRESH_NODE || '/usr/bin/node';
/** The only place the TLS-intercepting proxy's CA is trusted; mounted for this throwaway container only. */
const HOST_CA = process.env.SB_BUILD_CA || '/etc/ssl/certs/ca-certificates.crt';
const RUN_TIMEOUT_MS = 20 * 60_000;

async function output(cmd: string, args: string[], what: string): Promise<string> {
  return (await mustExec(cmd, args, `Could not find ${what} (${cmd} ${args.join(' ')} failed).`)).stdout.trim();
}

/** `-v` options that stand in for what a fresh machine has before the project does anything. */
async function machineMounts(): Promise<string[]> {
  const nodeBin = fs.realpathSync(MACHINE_NODE);
  const npmDir = path.resolve(path.dirname(nodeBin), '../lib/node_modules/npm');
  if (!fs.existsSync(path.join(npmDir, 'bin/npm-cli.js'))) throw new StackError(`No npm next to ${MACHINE_NODE} (looked in ${npmDir}): set SB_FRESH_NODE to a node installed with its npm.`);
  const goroot = await output('go', ['env', 'GOROOT'], 'the Go toolchain');
  const docker = await output('sh', ['-c', 'command -v docker'], 'the docker client');
  return [
    `${nodeBin}:/usr/local/bin/node:ro`,
    `${npmDir}:/usr/local/lib/node_modules/npm:ro`,
    `${goroot}:/usr/local/go:ro`,
    `${fs.realpathSync(docker)}:/usr/local/bin/docker:ro`,
  ];
}

/** Download caches shared with the host (SB_FRESH_CACHES=0 runs cold). */
async function cacheMounts(): Promise<string[]> {
  if (process.env.SB_FRESH_CACHES === '0') return [];
  fs.mkdirSync(path.join(APT_CACHE, 'partial'), { recursive: true });
  const [modCache, buildCache] = (await output('go', ['env', 'GOMODCACHE', 'GOCACHE'], 'the Go caches')).split('\n');
  const npmCache = await output('npm', ['config', 'get', 'cache'], 'the npm cache');
  return [`${APT_CACHE}:/var/cache/apt/archives`, `${npmCache}:/root/.npm`, `${modCache}:/root/go/pkg/mod`, `${buildCache}:/root/.cache/go-build`];
}

/** The Go settings of this machine (proxy, flags, toolchain), which a fresh one has too. */
async function goEnv(): Promise<string[]> {
  const names = ['GOPROXY', 'GOSUMDB', 'GOFLAGS', 'GOTOOLCHAIN'];
  const values = (await output('go', ['env', ...names], 'the Go settings')).split('\n');
  return names.map((name, i) => `${name}=${values[i] ?? ''}`);
}

export async function freshInstall(): Promise<number> {
  const started = Date.now();
  await ensureDaemon();
  await ensureBaseImage();
  const commit = await output('git', ['-C', ROOT, 'rev-parse', 'HEAD'], 'the commit to check');
  const gitDir = path.resolve(ROOT, await output('git', ['-C', ROOT, 'rev-parse', '--git-common-dir'], 'the git directory'));
  if ((await exec('git', ['-C', ROOT, 'diff', '--quiet', 'HEAD'])).code !== 0) info('uncommitted changes are not part of the check: it clones HEAD');
  fs.rmSync(LOG_DIR, { recursive: true, force: true });
  fs.mkdirSync(LOG_DIR, { recursive: true });

  const name = `sb-fresh-install-${process.pid}`;
  const volumes = [
    ...(await machineMounts()),
    ...(await cacheMounts()),
    `${gitDir}:/repo.git:ro`,
    `${HOST_CA}:/run/host-ca.crt:ro`,
    `${STEPS}:/check/steps.sh:ro`,
    `${LOG_DIR}:/check/logs`,
  ];
  const env = [
    `SB_COMMIT=${commit}`,
    'PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'SSL_CERT_FILE=/run/host-ca.crt',
    'NODE_EXTRA_CA_CERTS=/run/host-ca.crt',
    ...(await goEnv()),
  ];
  const args = ['run', '--rm', '--name', name, ...volumes.flatMap((v) => ['-v', v]), ...env.flatMap((e) => ['-e', e]), BASE_IMAGE, 'bash', '/check/steps.sh'];

  // The container goes with this process, also when it is interrupted.
  const removeContainer = () => spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
  const onSignal = (signal: NodeJS.Signals) => {
    removeContainer();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  step(`Fresh-install check of ${commit.slice(0, 12)} in a container from ${BASE_IMAGE} (logs: .stack/fresh-install/logs/)`);
  try {
    const run = await exec('docker', args, { inherit: true, timeoutMs: RUN_TIMEOUT_MS });
    if (run.code !== 0) throw failure(run.code);
  } finally {
    removeContainer();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  info(`fresh-install check passed in ${Math.round((Date.now() - started) / 1000)} s`);
  return 0;
}

/** One sentence naming the step that failed (the steps script leaves its name and log behind). */
function failure(code: number): StackError {
  const failed = readIfExists(path.join(LOG_DIR, 'failed-step'))?.trim().split('\n');
  if (!failed?.[0]) return new StackError(`The fresh-install container ended with code ${code} before any step failed (docker run itself, or a timeout after ${RUN_TIMEOUT_MS / 60_000} min).`);
  const [stepName, log] = failed;
  const details = tail(readIfExists(path.join(LOG_DIR, log ?? '')) ?? '');
  return new StackError(`The fresh-install check failed at step "${stepName}"; its log is .stack/fresh-install/logs/${log}.`, details);
}
