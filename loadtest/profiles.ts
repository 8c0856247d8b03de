// What each PROFILE runs. The fan-out case of `standard` is the load
// docs/benchmarks.md compares Switchboard and stock under.
export interface FanoutSpec {
  phase: string;
  msgPerSec: number;
  durationS: number;
  /** block every generator's event loop for `forMs` every `everyMs` (a generator lagging on purpose: the smoke check of the invalid-phase rule) */
  stall?: { everyMs: number; forMs: number };
}

/** The fan-out rate search (harness/search.ts) over the fan-out population. */
export interface SearchSpec {
  rates: number[];
  durationS: number;
  p99LimitMs: number;
  bisect: number;
}

export interface ToolLoad {
  sockets: number;
  rooms: number;
  connectRate: number;
  msgPerSec: number;
  durationS: number;
}

/** chat mix: users arrive at `rate`/s, each in 1..maxRoomsPerUser of `rooms` rooms for `sessionS` */
export interface ChatSpec {
  users: number;
  rate: number;
  rooms: number;
  maxRoomsPerUser: number;
  sessionS: number;
  /** mean idle time between two messages of one user (a human rate) */
  thinkMs: number;
  typingMs: number;
}

/** soak: steady fan-out for `durationS` in windows of `windowS`; the leak rule after `warmupS` */
export interface SoakSpec {
  sockets: number;
  rooms: number;
  rate: number;
  msgPerSec: number;
  durationS: number;
  windowS: number;
  warmupS: number;
  /** fail when a replica's least-squares slope over the steady part exceeds these AND grew by at least minGrowthMb */
  leak: { maxHeapMbPerMin: number; maxRssMbPerMin: number; minGrowthMb: number };
}

/**
 * The faults of the chaos matrix (harness/faults.ts), one fan-out phase each:
 *   nginx-reload  nginx reloaded (graceful)
 *   freeze        one replica frozen (docker pause: SIGSTOP for every process) and resumed
 *   redis-cut     one replica cut from Redis (docker network disconnect) and reconnected
 *   mongo         MongoDB killed and started again (Switchboard only: the stock server has no database)
 *   redis         Redis killed and started again; on a Redis Cluster or Sentinel stack its primary killed (failover), started again as a replica
 *   replica       one replica killed, started again after the phase
 */
export const FAULTS = ['nginx-reload', 'freeze', 'redis-cut', 'mongo', 'redis', 'replica'] as const;
export type Fault = (typeof FAULTS)[number];

/** chaos: a reference phase, then one fan-out phase of `phaseS` per fault, on a fresh stack per target */
export interface ChaosSpec {
  sockets: number;
  rooms: number;
  rate: number;
  msgPerSec: number;
  phaseS: number;
  /** each fault begins a quarter into its phase and is repaired `downS` later (a killed replica: after the phase) */
  downS: number;
  /** in this order, after the reference phase */
  faults: Fault[];
  /** the reference phase without a fault first (default true) */
  steady?: boolean;
  /** which targets get a chaos stack (default both) */
  targets?: ('switchboard' | 'stock')[];
}

/** one more cluster configuration measured with `variantLoad` (profiles' `variants`) */
export interface Variant {
  label: string;
  /** switchboard (default) or the stock baseline */
  target?: 'switchboard' | 'stock';
  replicas?: number;
  transport?: 'websocket' | 'polling';
  /** environment for the stack (REDIS_ADAPTER, REDIS_MODE...) */
  env?: Record<string, string>;
  /** compose overlays added to the Switchboard project (a Redis topology) */
  composeFiles?: string[];
  /** the `up --redis` mode of the stack CLI */
  redisMode?: string;
}

export interface Profile {
  name: string;
  workers: number;
  replicas: number;
  /** the connect-storm measurement (these clients leave again afterwards) */
  storm: { sockets: number; rate: number; rooms: number };
  /** the fan-out population: connected at a rate every target absorbs, held for the fan-out phases */
  population: { sockets: number; rate: number; rooms: number };
  warmup: FanoutSpec;
  fanout: FanoutSpec[];
  /** the fan-out phase whose figures are the headline */
  headline: string;
  /** the fan-out phase at a rate where stock keeps the machine at most about 60 % busy (the report checks it) */
  unsaturated?: string;
  /** the fan-out phase past the knee: reported as a stress row */
  stress?: string;
  /** the fan-out phase made to lag on purpose (smoke): it must come out invalid and stay out of every ratio */
  mustBeInvalid?: string;
  /** rounds of the headline scenarios, each target on a fresh stack in turn (ABAB...): median and range */
  repeats: number;
  /** a phase whose generators' event-loop delay p99 is above this is invalid (lib/accounting.ts) */
  generatorLagP99LimitMs: number;
  /** the fan-out's listeners (every member but the producer) on the small ws client (harness/lite-client.ts) */
  liteListeners: boolean;
  /** the rate search over the fan-out population, in every round (the saturation headline) */
  search?: SearchSpec;
  /** the main targets' networking (LT_NETWORK overrides): each project's bridge network, or nginx and the replicas on the host's (compose/host-network.yml); variants always use the bridge */
  network?: 'bridge' | 'host';
  churn: { churners: number; rate: number; holdMs: number };
  k6: ToolLoad;
  artillery: ToolLoad;
  /** capacity: socket steps to hold (each for holdS), and the fan-out rate search (ascending rates, then `bisect` halvings) */
  capacity?: { sockets: number[]; rate: number; holdS: number; searchRates: number[]; searchDurationS: number; p99LimitMs: number; bisect: number };
  chat?: ChatSpec;
  soak?: SoakSpec;
  chaos?: ChaosSpec;
  /** the load every variant gets (also the main clusters, for the comparison) */
  variantLoad?: { sockets: number; rooms: number; rate: number; msgPerSec: number; durationS: number };
  variants?: Variant[];
  /** scenarios run by default (LT_SCENARIOS overrides) */
  scenarios: Scenario[];
}

export const SCENARIOS = ['fanout', 'search', 'presence', 'k6', 'artillery', 'storm', 'chat', 'soak', 'chaos', 'capacity', 'variants', 'paths'] as const;
export type Scenario = (typeof SCENARIOS)[number];
const BASE: Scenario[] = ['fanout', 'presence', 'k6', 'artillery', 'storm'];

/** A Redis topology as a variant: the 3-primary Redis Cluster overlay with the sharded adapter. */
export const CLUSTER_VARIANT: Variant = { label: 'cluster-sharded', env: { REDIS_ADAPTER: 'sharded' }, composeFiles: ['docker-compose.redis-cluster.yml'], redisMode: 'cluster' };

/** The standard variants: adapters, replica count, transport. A Redis topology is one more entry (see README). */
export const STANDARD_VARIANTS: Variant[] = [
  { label: 'sharded', env: { REDIS_ADAPTER: 'sharded' } },
  { label: 'streams', env: { REDIS_ADAPTER: 'streams' } },
  { label: '1-replica', replicas: 1 },
  { label: 'stock-1-replica', target: 'stock', replicas: 1 },
  { label: 'polling', transport: 'polling' },
  { label: 'stock-polling', target: 'stock', transport: 'polling' },
  CLUSTER_VARIANT,
];

export const PROFILES: Record<string, Profile> = {
  smoke: {
    name: 'smoke',
    workers: 2,
    replicas: 3,
    storm: { sockets: 100, rate: 100, rooms: 10 },
    population: { sockets: 200, rate: 100, rooms: 10 },
    warmup: { phase: 'warmup', msgPerSec: 20, durationS: 2 },
    fanout: [
      { phase: 'fanout', msgPerSec: 50, durationS: 6 },
      // The invalid-phase rule, end to end: every generator blocks its loop 150 ms in every 400 ms.
      { phase: 'fanout-lagging', msgPerSec: 20, durationS: 3, stall: { everyMs: 400, forMs: 150 } },
    ],
    headline: 'fanout',
    unsaturated: 'fanout',
    mustBeInvalid: 'fanout-lagging',
    repeats: 1,
    generatorLagP99LimitMs: 50,
    liteListeners: true,
    search: { rates: [100], durationS: 3, p99LimitMs: 50, bisect: 0 },
    churn: { churners: 20, rate: 20, holdMs: 1000 },
    k6: { sockets: 40, rooms: 4, connectRate: 40, msgPerSec: 8, durationS: 5 },
    artillery: { sockets: 20, rooms: 4, connectRate: 20, msgPerSec: 8, durationS: 5 },
    chat: { users: 20, rate: 10, rooms: 5, maxRoomsPerUser: 3, sessionS: 5, thinkMs: 1200, typingMs: 300 },
    soak: { sockets: 100, rooms: 10, rate: 100, msgPerSec: 50, durationS: 60, windowS: 15, warmupS: 15, leak: { maxHeapMbPerMin: 20, maxRssMbPerMin: 40, minGrowthMb: 20 } },
    // One short fault, Switchboard only, so make test carries the matrix end to end (its own stack: under a minute).
    chaos: { sockets: 60, rooms: 6, rate: 60, msgPerSec: 30, phaseS: 6, downS: 2, faults: ['redis-cut'], steady: false, targets: ['switchboard'] },
    capacity: { sockets: [300, 600], rate: 150, holdS: 5, searchRates: [50, 200], searchDurationS: 4, p99LimitMs: 50, bisect: 1 },
    variantLoad: { sockets: 100, rooms: 10, rate: 100, msgPerSec: 30, durationS: 4 },
    variants: [{ label: 'sharded', env: { REDIS_ADAPTER: 'sharded' } }, { label: 'polling', transport: 'polling' }, { label: 'stock-polling', target: 'stock', transport: 'polling' }, CLUSTER_VARIANT],
    scenarios: [...BASE, 'chat', 'chaos'],
  },
  standard: {
    name: 'standard',
    workers: 3,
    replicas: 3,
    storm: { sockets: 2500, rate: 500, rooms: 100 },
    population: { sockets: 5000, rate: 150, rooms: 100 },
    warmup: { phase: 'warmup', msgPerSec: 20, durationS: 5 },
    fanout: [
      { phase: 'fanout-50', msgPerSec: 50, durationS: 20 },
      { phase: 'fanout-300', msgPerSec: 300, durationS: 20 },
    ],
    headline: 'fanout-50',
    unsaturated: 'fanout-50',
    stress: 'fanout-300',
    repeats: 3,
    generatorLagP99LimitMs: 50,
    liteListeners: true,
    search: { rates: [100, 300, 600, 1000, 1500], durationS: 10, p99LimitMs: 50, bisect: 2 },
    // nginx and the replicas on the host's network: cheaper per delivery than the bridge (docs/benchmarks.md, "The environment's tax").
    network: 'host',
    churn: { churners: 200, rate: 20, holdMs: 3000 },
    k6: { sockets: 500, rooms: 50, connectRate: 100, msgPerSec: 100, durationS: 20 },
    artillery: { sockets: 200, rooms: 20, connectRate: 50, msgPerSec: 40, durationS: 20 },
    chat: { users: 600, rate: 20, rooms: 60, maxRoomsPerUser: 3, sessionS: 30, thinkMs: 5000, typingMs: 1000 },
    soak: { sockets: 1000, rooms: 50, rate: 100, msgPerSec: 100, durationS: 120, windowS: 30, warmupS: 40, leak: { maxHeapMbPerMin: 5, maxRssMbPerMin: 10, minGrowthMb: 10 } },
    chaos: { sockets: 500, rooms: 50, rate: 100, msgPerSec: 100, phaseS: 15, downS: 5, faults: [...FAULTS] },
    variantLoad: { sockets: 1000, rooms: 50, rate: 100, msgPerSec: 100, durationS: 10 },
    variants: STANDARD_VARIANTS,
    scenarios: [...BASE, 'search', 'chat', 'soak', 'chaos', 'variants'],
  },
  capacity: {
    name: 'capacity',
    workers: 4,
    replicas: 3,
    storm: { sockets: 2500, rate: 500, rooms: 100 },
    population: { sockets: 5000, rate: 100, rooms: 100 },
    warmup: { phase: 'warmup', msgPerSec: 20, durationS: 5 },
    fanout: [{ phase: 'fanout-300', msgPerSec: 300, durationS: 20 }],
    headline: 'fanout-300',
    repeats: 1,
    generatorLagP99LimitMs: 50,
    liteListeners: true,
    churn: { churners: 100, rate: 20, holdMs: 2000 },
    k6: { sockets: 500, rooms: 50, connectRate: 100, msgPerSec: 100, durationS: 20 },
    artillery: { sockets: 200, rooms: 20, connectRate: 50, msgPerSec: 40, durationS: 20 },
    capacity: { sockets: [5000, 10000, 15000, 20000], rate: 250, holdS: 30, searchRates: [100, 300, 600, 1000, 1500, 2000, 3000], searchDurationS: 15, p99LimitMs: 50, bisect: 2 },
    scenarios: ['capacity'],
  },
  /** a long soak on its own: LT_SOAK_S=<seconds> sets its length (default 30 min) */
  soak: {
    name: 'soak',
    workers: 2,
    replicas: 3,
    storm: { sockets: 0, rate: 1, rooms: 1 },
    population: { sockets: 0, rate: 1, rooms: 1 },
    warmup: { phase: 'warmup', msgPerSec: 20, durationS: 5 },
    fanout: [],
    headline: 'soak',
    repeats: 1,
    generatorLagP99LimitMs: 50,
    liteListeners: false,
    churn: { churners: 0, rate: 1, holdMs: 0 },
    k6: { sockets: 0, rooms: 1, connectRate: 1, msgPerSec: 1, durationS: 1 },
    artillery: { sockets: 0, rooms: 1, connectRate: 1, msgPerSec: 1, durationS: 1 },
    soak: { sockets: 2000, rooms: 100, rate: 100, msgPerSec: 100, durationS: Number(process.env.LT_SOAK_S || 1800), windowS: 60, warmupS: 300, leak: { maxHeapMbPerMin: 1, maxRssMbPerMin: 2, minGrowthMb: 20 } },
    scenarios: ['soak'],
  },
};
