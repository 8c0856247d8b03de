// Makes sure a Docker engine and Compose v2 answer. On machines like ours
// (root on Debian, no engine running, no compose plugin packaged) it installs
// Debian's docker.io, starts dockerd in the background and builds the compose
// plugin from the Go module proxy; elsewhere it says how to get them.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { isErrno, readIfExists } from './errno';
import { commandExists, exec, mustExec, sleep, tail } from './exec';
import { info, StackError, step, withProgress } from './log';
import { COMPOSE_PLUGIN, DOCKER_CONFIG_DIR, STACK_DIR } from './paths';

const COMPOSE_MODULE = 'github.com/docker/compose/v2';
const COMPOSE_VERSION = 'v2.40.3';
const DOCKERD_LOG = path.join(STACK_DIR, 'dockerd.log');
const DOCKERD_PID = '/var/run/docker.pid';

const isRoot = () => process.getuid?.() === 0;
const isDebian = () => fs.existsSync('/etc/debian_version');

export async function dockerAnswers(): Promise<boolean> {
  return (await exec('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 20_000 })).code === 0;
}

/** `verbose` also reports the versions when all was already in place (engine, up, images). */
export async function ensureEngine({ verbose = false } = {}): Promise<void> {
  fs.mkdirSync(STACK_DIR, { recursive: true });
  await ensureDaemon(verbose);
  await ensureCompose(verbose);
}

export async function ensureDaemon(verbose = false): Promise<void> {
  if ((await commandExists('docker')) && (await dockerAnswers())) {
    if (!verbose) return;
    const v = await exec('docker', ['info', '--format', '{{.ServerVersion}}']);
    info(`Docker engine ${v.stdout.trim()} answers`);
    return;
  }
  if (!isRoot() || !isDebian()) {
    throw new StackError(
      'No Docker engine answers `docker info`: start Docker Desktop or the docker service (for example `sudo systemctl start docker`), ' +
        'or run this as root on Debian so it can install and start one.',
    );
  }
  if (!(await commandExists('dockerd')) || !(await commandExists('docker'))) {
    step("No Docker engine here: installing Debian's docker.io with apt-get");
    await aptInstall(['docker.io']);
  }
  const dockerd: { started?: number; exitCode?: number | null } = {};
  const startDockerd = () => {
    removeStalePidFile();
    step('Starting dockerd in the background (log: .stack/dockerd.log)');
    const log = fs.openSync(DOCKERD_LOG, 'a');
    // Detached in its own session so it outlives this CLI (and `make up`).
    const child = spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] });
    dockerd.exitCode = undefined;
    child.on('exit', (code) => (dockerd.exitCode = code));
    child.unref();
    fs.closeSync(log);
    dockerd.started = (dockerd.started ?? 0) + 1;
  };
  if (dockerdRunning()) step('dockerd is running but does not answer yet: waiting for it');
  else startDockerd();
  await withProgress('waiting for dockerd', async () => {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (await dockerAnswers()) return;
      if (dockerd.exitCode !== undefined) {
        // Once more: a containerd left over by a killed dockerd can make the first start time out.
        if (dockerd.started === 1) {
          info(`dockerd exited (code ${dockerd.exitCode}) while starting: trying once more`);
          startDockerd();
        } else {
          throw new StackError(`dockerd exited (code ${dockerd.exitCode}) while starting; see ${DOCKERD_LOG}.`, readTail(DOCKERD_LOG));
        }
      }
      // The dockerd we waited for died (e.g. killed with its session): start our own.
      if (!dockerd.started && !dockerdRunning()) startDockerd();
      await sleep(1000);
    }
    throw new StackError(`dockerd did not answer within 90 s; see ${DOCKERD_LOG}.`, readTail(DOCKERD_LOG));
  });
  info(`Docker engine ${(await exec('docker', ['info', '--format', '{{.ServerVersion}}'])).stdout.trim()} answers`);
}

/** Alive and not a zombie (a killed dockerd can linger as one until it is reaped). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (isErrno(err, 'ESRCH')) return false;
    throw err;
  }
  const stat = readIfExists(`/proc/${pid}/stat`);
  if (stat === undefined) return true; // no /proc: trust kill(0)
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

function readPid(file: string): number | undefined {
  const text = readIfExists(file);
  if (text === undefined) return undefined;
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function dockerdRunning(): boolean {
  const pid = readPid(DOCKERD_PID);
  return pid !== undefined && pidAlive(pid);
}

/** After a machine or session restart the pid file survives its process and dockerd refuses to start. */
function removeStalePidFile(): void {
  const pid = readPid(DOCKERD_PID);
  if (fs.existsSync(DOCKERD_PID) && (pid === undefined || !pidAlive(pid))) {
    info(`removing stale ${DOCKERD_PID} (process ${pid ?? '?'} is gone)`);
    fs.rmSync(DOCKERD_PID, { force: true });
  }
}

function readTail(file: string): string {
  try {
    return tail(fs.readFileSync(file, 'utf8'), 20);
  } catch {
    // Best effort: the log only adds details to the error being thrown, and must not replace it.
    return '';
  }
}

export async function aptInstall(packages: string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const logFile = path.join(STACK_DIR, 'apt.log');
  await withProgress(`apt-get install ${packages.join(' ')}`, async () => {
    await mustExec('apt-get', ['update'], 'apt-get update failed (see .stack/apt.log).', { env, logFile });
    await mustExec('apt-get', ['install', '-y', '--no-install-recommends', ...packages], `apt-get install ${packages.join(' ')} failed (see .stack/apt.log).`, { env, logFile });
  });
}

async function composeAnswers(): Promise<boolean> {
  return (await exec('docker', ['compose', 'version', '--short'], { timeoutMs: 20_000 })).code === 0;
}

/** Points this process and its children at our DOCKER_CONFIG, whose cli-plugins/ has the plugin we built. */
function useOwnPluginDir(): void {
  const plugins = path.join(DOCKER_CONFIG_DIR, 'cli-plugins');
  fs.mkdirSync(plugins, { recursive: true });
  const link = path.join(plugins, 'docker-compose');
  // Relative, so a moved checkout keeps a working link; replaced if broken.
  if (!fs.existsSync(link)) {
    fs.rmSync(link, { force: true });
    fs.symlinkSync(path.relative(plugins, COMPOSE_PLUGIN), link);
  }
  process.env.DOCKER_CONFIG = DOCKER_CONFIG_DIR;
}

/** Needs no engine: `docker compose version` answers without one, so the plugin can be built anywhere. */
export async function ensureCompose(verbose = false): Promise<void> {
  const report = () => (verbose ? reportCompose() : undefined);
  if (await composeAnswers()) return report();
  if (fs.existsSync(COMPOSE_PLUGIN)) {
    useOwnPluginDir();
    if (await composeAnswers()) return report();
  }
  if (!(await commandExists('go'))) {
    throw new StackError(
      'Docker Compose v2 is missing: install the docker-compose-plugin package (or Docker Desktop), or install Go so it can be built from source.',
    );
  }
  step(`Compose v2 is not installed: building the plugin ${COMPOSE_VERSION} from the Go module proxy into .tools/ (about 2 minutes)`);
  const logFile = path.join(STACK_DIR, 'compose-build.log');
  await withProgress('building docker-compose', async () => {
    const dl = await mustExec('go', ['mod', 'download', '-json', `${COMPOSE_MODULE}@${COMPOSE_VERSION}`], 'Downloading the compose module failed (see .stack/compose-build.log).', { logFile });
    const dir = (JSON.parse(dl.stdout) as { Dir: string }).Dir;
    fs.mkdirSync(path.dirname(COMPOSE_PLUGIN), { recursive: true });
    // `go install` refuses this module (its go.mod has exclude lines), so build in the module directory.
    await mustExec(
      'go',
      ['build', '-ldflags', `-X ${COMPOSE_MODULE}/internal.Version=${COMPOSE_VERSION}`, '-o', COMPOSE_PLUGIN, './cmd'],
      'Building the compose plugin failed (see .stack/compose-build.log).',
      { cwd: dir, logFile },
    );
  });
  useOwnPluginDir();
  if (!(await composeAnswers())) throw new StackError('The compose plugin was built but `docker compose version` still fails.');
  await reportCompose();
}

async function reportCompose(): Promise<void> {
  const v = await exec('docker', ['compose', 'version', '--short']);
  const where = process.env.DOCKER_CONFIG === DOCKER_CONFIG_DIR ? ' (plugin in .tools/, used through DOCKER_CONFIG=.tools/docker-config)' : '';
  info(`Docker Compose ${v.stdout.trim()} answers${where}`);
}
