// The load test's options, read from the environment (the Makefile passes
// PROFILE and SCENARIOS through): see the list at the top of run.ts.
import { FAULTS, PROFILES, SCENARIOS, type Fault, type Profile, type Scenario } from '../profiles';

export interface RunOptions {
  profile: Profile;
  /** one target only (LT_ONLY, development) */
  only?: Target;
  /** how the generators reach nginx: its address on the compose network, or the published port */
  pathMode: 'bridge' | 'published';
  /** tools left out (LT_SKIP, development) */
  skip: Set<string>;
  /** the scenarios to run: LT_SCENARIOS, else the profile's, less what LT_SKIP leaves out */
  scenarios: Set<Scenario>;
  /** only these of the profile's variants (LT_VARIANTS); empty: all of them */
  variants: string[];
  /** k6 from a container on each project's network instead of the host */
  k6Network: boolean;
  /** the Switchboard adapter of the main cluster */
  redisAdapter: string;
  /** the Redis topology of the chaos stacks (LT_REDIS; `make loadtest REDIS=...`): the stock baseline keeps its one Redis */
  redis: 'single' | 'cluster' | 'sentinel';
  /** Switchboard's adapter on the chaos stacks: sharded on a cluster unless REDIS_ADAPTER names another one a cluster takes */
  chaosAdapter: string;
  /** LT_CPUSET=stack:0,generators:1: the compose projects' containers and the generator processes on separate cores */
  cpuset?: { stack: string; generators: string };
  /** how the stacks are networked: each project's bridge network, or nginx and the replicas on the host's (LT_NETWORK; default the profile's) */
  network: 'bridge' | 'host';
  /** LT_STACK=local: the stock baseline as plain processes on loopback behind a host nginx (lib/local-stock.ts), no Docker */
  stack: 'compose' | 'local';
}

/** A bad value in the environment: the message says what to use instead. */
export class OptionError extends Error {
  readonly exitCode = 2;
}

const TARGETS = ['switchboard', 'stock'] as const;
type Target = (typeof TARGETS)[number];
const isTarget = (value: string): value is Target => (TARGETS as readonly string[]).includes(value);

const list = (value: string | undefined) => (value ?? '').split(',').filter(Boolean);

export function parseOptions(env: NodeJS.ProcessEnv): RunOptions {
  const profileName = env.PROFILE || 'standard';
  const profile = Object.hasOwn(PROFILES, profileName) ? PROFILES[profileName] : undefined;
  if (!profile) throw new OptionError(`Unknown PROFILE "${env.PROFILE}": use smoke, standard or capacity.`);
  const asked = list(env.LT_SCENARIOS);
  for (const scenario of asked)
    if (!(SCENARIOS as readonly string[]).includes(scenario)) throw new OptionError(`Unknown scenario "${scenario}" in LT_SCENARIOS: use ${SCENARIOS.join(', ')}.`);
  const only = env.LT_ONLY || undefined;
  if (only !== undefined && !isTarget(only)) throw new OptionError(`Unknown target "${only}" in LT_ONLY: use ${TARGETS.join(' or ')}.`);
  const skip = new Set(list(env.LT_SKIP));
  const stack = env.LT_STACK === 'local' ? 'local' : 'compose';
  if (env.LT_STACK && !['local', 'compose'].includes(env.LT_STACK)) throw new OptionError(`Unknown LT_STACK "${env.LT_STACK}": use compose (default) or local.`);
  if (stack === 'local' && only !== 'stock') throw new OptionError('LT_STACK=local runs the stock baseline only: set LT_ONLY=stock too.');
  // Development overrides of the profile (the environment-tax measurements of docs/benchmarks.md).
  const count = (name: string, v: string | undefined) => {
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new OptionError(`${name} must be a whole number of at least 1, not "${v}".`);
    return Number(v);
  };
  const overrides: Partial<Profile> = {};
  const repeats = count('LT_REPEATS', env.LT_REPEATS);
  const workers = count('LT_WORKERS', env.LT_WORKERS);
  if (repeats) overrides.repeats = repeats;
  if (workers) overrides.workers = workers;
  if (env.LT_LITE === '0' || env.LT_LITE === '1') overrides.liteListeners = env.LT_LITE === '1';
  else if (env.LT_LITE) throw new OptionError(`LT_LITE must be 0 or 1, not "${env.LT_LITE}".`);
  if (env.LT_NETWORK && !['bridge', 'host'].includes(env.LT_NETWORK)) throw new OptionError(`Unknown LT_NETWORK "${env.LT_NETWORK}": use bridge or host.`);
  // LT_FAULTS: the chaos matrix's faults instead of the profile's, in the order given.
  const faults = list(env.LT_FAULTS);
  for (const fault of faults) if (!(FAULTS as readonly string[]).includes(fault)) throw new OptionError(`Unknown fault "${fault}" in LT_FAULTS: use ${FAULTS.join(', ')}.`);
  if (faults.length && profile.chaos) overrides.chaos = { ...profile.chaos, faults: faults as Fault[] };
  const redis = env.LT_REDIS || 'single';
  if (!['single', 'cluster', 'sentinel'].includes(redis)) throw new OptionError(`Unknown LT_REDIS (REDIS) "${env.LT_REDIS}": use single, cluster or sentinel.`);
  if (redis === 'cluster' && env.REDIS_ADAPTER === 'classic') throw new OptionError('REDIS=cluster takes REDIS_ADAPTER=sharded or streams (classic pub/sub is refused on a cluster).');
  const tuned: Profile = Object.keys(overrides).length ? { ...profile, ...overrides } : profile;
  const scenarios = new Set<Scenario>(asked.length ? (asked as Scenario[]) : profile.scenarios);
  for (const skipped of skip) scenarios.delete(skipped as Scenario);
  return {
    cpuset: parseCpuset(env.LT_CPUSET),
    stack,
    network: (env.LT_NETWORK as 'bridge' | 'host' | undefined) || profile.network || 'bridge',
    profile: tuned,
    only,
    pathMode: env.LT_PATH === 'published' ? 'published' : 'bridge',
    skip,
    scenarios,
    variants: list(env.LT_VARIANTS),
    k6Network: env.LT_K6_NETWORK === '1',
    redisAdapter: env.REDIS_ADAPTER || 'classic',
    redis: redis as RunOptions['redis'],
    chaosAdapter: env.REDIS_ADAPTER || (redis === 'cluster' ? 'sharded' : 'classic'),
  };
}

/** `stack:0,generators:1` (each a cpu list as taskset and docker take it: 0, 0-1, 0,2 is not allowed here). */
export function parseCpuset(value: string | undefined): RunOptions['cpuset'] {
  if (!value) return undefined;
  const parts = Object.fromEntries(value.split(',').map((p) => p.split(':').map((x) => x.trim())));
  const ok = (v: string | undefined) => v !== undefined && /^\d+(-\d+)?$/.test(v);
  if (!ok(parts.stack) || !ok(parts.generators) || Object.keys(parts).length !== 2)
    throw new OptionError(`LT_CPUSET must look like stack:0,generators:1 (a core or a range such as 0-1 for each), not "${value}".`);
  return { stack: parts.stack, generators: parts.generators };
}
