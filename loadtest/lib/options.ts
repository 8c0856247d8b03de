// The load test's options, read from the environment (the Makefile passes
// PROFILE and SCENARIOS through): see the list at the top of run.ts.
import { PROFILES, SCENARIOS, type Profile, type Scenario } from '../profiles';

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
  const scenarios = new Set<Scenario>(asked.length ? (asked as Scenario[]) : profile.scenarios);
  for (const skipped of skip) scenarios.delete(skipped as Scenario);
  return {
    profile,
    only,
    pathMode: env.LT_PATH === 'published' ? 'published' : 'bridge',
    skip,
    scenarios,
    variants: list(env.LT_VARIANTS),
    k6Network: env.LT_K6_NETWORK === '1',
    redisAdapter: env.REDIS_ADAPTER || 'classic',
  };
}
