// The clusters under test, each its own compose project on its own port:
// Switchboard through the stack CLI, the stock baseline through
// loadtest/baseline/stack.ts (the same CLI modules). Both are removed with
// their volumes afterwards, also when the run fails.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const LOADTEST = path.resolve(__dirname, '..');

/** Rate limits raised for load: every generator shares one address, and its users act faster than people. */
export const LOAD_LIMITS = {
  RATE_LIMIT_LOGINS: '1000000/1s',
  RATE_LIMIT_MESSAGES: '1000000/1s',
  RATE_LIMIT_JOINS: '1000000/1s',
  RATE_LIMIT_HTTP: '1000000/1s',
  RATE_LIMIT_HANDSHAKES: '1000000/1s',
  RATE_LIMIT_PRESENCE: '1000000/1s',
  RATE_LIMIT_TYPING: '1000000/1s',
  RATE_LIMIT_HISTORY: '1000000/1s',
  RATE_LIMIT_LOCATION: '1000000/1s',
  RATE_LIMIT_DISPATCH: '1000000/1s',
  RATE_LIMIT_ORDERS: '1000000/1s',
  // nginx's per-address limits on /socket.io/ off (the stock baseline's nginx mounts none either).
  SB_NGINX_LIMITS_DIR: './deploy/stack/nginx-limits-off',
};

export interface StackSpec {
  target: 'switchboard' | 'stock';
  /** label in the report, e.g. switchboard, switchboard-sharded, stock */
  label: string;
  project: string;
  port: number;
  replicas: number;
  env: Record<string, string>;
  log: string;
  /** more arguments for the stack CLI's `up` (e.g. --redis cluster) */
  upArgs?: string[];
  /** its Redis topology (single unless `upArgs` names another) */
  redis?: 'single' | 'cluster' | 'sentinel';
}

/** The exit code of a command stopped at its time limit (as timeout(1) has it). */
const TIMED_OUT = 124;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const out = fs.openSync(log, 'a');
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', out, out] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      fs.closeSync(out);
      resolve(timedOut ? TIMED_OUT : (code ?? 1));
    });
    child.on('error', () => resolve(127));
  });
}

function stackEnv(s: StackSpec): NodeJS.ProcessEnv {
  return { ...process.env, ...s.env, SB_PROJECT: s.project, SB_HTTP_PORT: String(s.port), SB_BIND: '127.0.0.1', REPLICAS: String(s.replicas) };
}

const TSX = ['--import', 'tsx'];

const logTail = (log: string) => fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-15).join('\n');

const UP_LIMIT_MS = 600_000;

/**
 * Every image the Switchboard stack runs, pulled or built (the stack CLI's
 * `images`: the base images and the service image). The stock baseline is
 * built on the same base images: preparing them once before either project
 * starts keeps two builders of one image from running at once.
 */
export async function prepareImages(s: StackSpec): Promise<void> {
  const code = await run(process.execPath, [...TSX, 'deploy/stack/src/cli.ts', 'images'], stackEnv(s), s.log, UP_LIMIT_MS);
  if (code === TIMED_OUT) throw new Error(`preparing the images did not finish within ${UP_LIMIT_MS / 60_000} min; log ${s.log}:\n${logTail(s.log)}`);
  if (code !== 0) throw new Error(`preparing the images failed (exit ${code}); log ${s.log}:\n${logTail(s.log)}`);
}

/** Projects started and not yet removed: what a Ctrl-C must remove. */
export const liveStacks = new Set<StackSpec>();

export async function stackUp(s: StackSpec): Promise<void> {
  liveStacks.add(s);
  const env = stackEnv(s);
  const code =
    s.target === 'switchboard'
      ? await run(process.execPath, [...TSX, 'deploy/stack/src/cli.ts', 'up', '--replicas', String(s.replicas), ...(s.upArgs ?? [])], env, s.log, UP_LIMIT_MS)
      : await run(process.execPath, [...TSX, 'loadtest/baseline/stack.ts', 'up', String(s.replicas)], env, s.log, UP_LIMIT_MS);
  if (code !== 0) throw new Error(`starting ${s.label} (project ${s.project}) failed (exit ${code}); log ${s.log}:\n${logTail(s.log)}`);
}

export async function stackDown(s: StackSpec): Promise<number> {
  const env = stackEnv(s);
  const code =
    s.target === 'switchboard'
      ? await run(process.execPath, [...TSX, 'deploy/stack/src/cli.ts', 'down', '--volumes'], env, s.log, 180_000)
      : await run(process.execPath, [...TSX, 'loadtest/baseline/stack.ts', 'down'], env, s.log, 180_000);
  if (code === 0) liveStacks.delete(s);
  return code;
}

/**
 * nginx's address on the project's bridge network. The host reaches it
 * directly, without Docker's userland proxy (docker-proxy) in front of the
 * published port: a connect storm can kill the proxy (the port refuses
 * connections afterwards, docs/benchmarks.md), and it adds a copy per byte. The
 * daemon-wide alternative, `--userland-proxy=false`, would change a Docker
 * engine other people share.
 */
export async function nginxBridgeUrl(s: StackSpec): Promise<string> {
  const sh = (args: string[]) =>
    new Promise<string>((resolve) => {
      const p = spawn('docker', args, { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c));
      p.on('close', () => resolve(out.trim()));
      p.on('error', () => resolve('')); // docker missing: no address, which the caller reports
    });
  const name = (await sh(['ps', '--filter', `label=com.docker.compose.project=${s.project}`, '--filter', 'label=com.docker.compose.service=nginx', '--format', '{{.Names}}'])).split('\n')[0];
  const ip = name ? (await sh(['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', name])).split(/\s+/)[0] : '';
  if (!ip) throw new Error(`no bridge address for ${s.project}'s nginx`);
  return `http://${ip}:80`;
}

export type ChaosVerb = 'kill' | 'start' | 'pause' | 'resume' | 'disconnect' | 'reconnect' | 'reload';

/**
 * The stack CLI's chaos verbs (`make kill|start|pause|resume|disconnect|reconnect
 * TARGET=...`, `make reload`) against a load-test project: `target` is
 * redis|redis-N|mongo|realtime-N (none for reload), `network` the one network
 * `disconnect` cuts. The stock baseline is a compose project of the same
 * shape; its compose files are named here because the CLI lists containers
 * through `docker compose ps`.
 */
export async function stackVerb(s: StackSpec, verb: ChaosVerb, target?: string, network?: string): Promise<void> {
  const env = stackEnv(s);
  if (s.target === 'stock') env.SB_COMPOSE_FILES = ['loadtest/baseline/docker-compose.yml', ...(s.env.LT_EXTRA_COMPOSE ?? '').split(':').filter(Boolean)].join(':');
  const args = [verb, ...(target ? ['--target', target] : []), ...(network ? ['--network', network] : [])];
  const code = await run(process.execPath, [...TSX, 'deploy/stack/src/cli.ts', ...args], env, s.log, 180_000);
  if (code !== 0) throw new Error(`stack ${args.join(' ')} on ${s.project} failed (exit ${code}); see ${s.log}`);
}

/** The compose overlay that mounts LT_NGINX_CONF as nginx's configuration on the bridge network (chaos stacks). */
export const NGINX_CONF_OVERLAY = 'loadtest/compose/nginx-conf.yml';

/**
 * The repository's nginx.conf with one addition, for the chaos stacks: every
 * response with a 5xx status is logged on nginx's stdout (`<status> <method>
 * <uri>`), so each phase can count the 5xx answers clients got. Written to
 * `dir`; its path is LT_NGINX_CONF.
 */
export function nginxConfLogging5xx(project: string, dir: string): string {
  const conf = path.join(dir, `nginx-${project}.conf`);
  const text = fs.readFileSync(path.join(ROOT, 'nginx.conf'), 'utf8');
  if (!/^\s*access_log off;/m.test(text)) throw new Error('nginx.conf has no `access_log off;` line to replace with the 5xx log');
  const log = ['map $status $lt_5xx {', '        ~^5     1;', '        default 0;', '    }', "    log_format lt_5xx '$status $request_method $uri';", '    access_log /dev/stdout lt_5xx if=$lt_5xx;'].join('\n');
  fs.writeFileSync(conf, text.replace(/access_log off;/, log));
  return conf;
}

/** LT_CPUSET: every container of the project on these cores (docker update keeps it across restarts). */
export async function pinProject(s: StackSpec, cpus: string): Promise<void> {
  const sh = (args: string[]) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      const p = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c));
      p.stderr.on('data', (c: Buffer) => (out += c));
      p.on('close', (code) => resolve({ code: code ?? 1, out }));
      p.on('error', (e) => resolve({ code: 127, out: e.message }));
    });
  const ids = (await sh(['ps', '-q', '--filter', `label=com.docker.compose.project=${s.project}`])).out.split('\n').filter(Boolean);
  if (!ids.length) throw new Error(`pinning ${s.project}: no containers`);
  const r = await sh(['update', '--cpuset-cpus', cpus, ...ids]);
  if (r.code !== 0) throw new Error(`pinning ${s.project} to cores ${cpus} failed: ${r.out.trim().split('\n').pop()}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(true)));
  });
}

/** `n` consecutive free ports (host network mode: one per replica), from a random start in 20000-59999. */
export async function freePortRange(n: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20000 + Math.floor(Math.random() * 400) * 100;
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found for the replicas (host network mode)`);
}

/**
 * Host network mode (LT_NETWORK=host, compose/host-network.yml): the compose
 * overlay and its settings for a project whose HTTP port is `s.port`: port
 * ranges for the replicas and their metrics, the replica script, and the
 * repository's nginx.conf rendered to listen on 127.0.0.1:<port> (written to `dir`).
 */
export async function hostNetworkEnv(s: Pick<StackSpec, 'project' | 'port' | 'replicas' | 'target'>, dir: string): Promise<Record<string, string>> {
  const conf = path.join(dir, `nginx-${s.project}.conf`);
  const text = fs.readFileSync(path.join(ROOT, 'nginx.conf'), 'utf8');
  if (!/listen 80;/.test(text)) throw new Error('nginx.conf has no `listen 80;` line to move to the host port');
  fs.writeFileSync(conf, text.replace('listen 80;', `listen 127.0.0.1:${s.port};`));
  const slots = s.replicas + 5; // room for a replica restarted while its old slot is still held
  return {
    LT_HOST_PORT_BASE: String(await freePortRange(slots)),
    LT_HOST_METRICS_BASE: String(await freePortRange(slots)),
    LT_HOST_CLAIM: s.project,
    LT_HOST_MAIN: s.target === 'switchboard' ? 'dist/main.js' : 'server.js',
    LT_NGINX_CONF: conf,
  };
}

export const HOST_NETWORK_OVERLAY = 'loadtest/compose/host-network.yml';
