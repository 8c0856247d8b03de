// What a run records: report.json is this object, report.md and the charts are rendered from it.
import type { CapacityResult } from '../harness/capacity';
import type { ChaosResult } from '../harness/chaos';
import type { ChatMixResult } from '../harness/chat-mix';
import type { FanoutResult, PresenceResult, StormResult } from '../harness/scenarios';
import type { SoakResult } from '../harness/soak';
import type { VariantResult } from '../harness/variants';
import type { PathResult } from '../k6/paths';
import type { ToolResult } from '../k6/run';
import type { ContainerSample, Sample, Sampler } from '../lib/sampler';
import type { PhaseAccount } from '../lib/accounting';
import type { LatencySummary } from '../lib/hist';
import type { LossSummary } from '../harness/loss';
import type { SearchResult } from '../harness/search';
import type { Settled } from '../lib/settle';

/** The replicas' RSS before the fan-out population and once it is connected. */
export interface MemoryFigures {
  connections: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  kbPerConnection: number;
}

/** One round of one target: what the repeats summary takes medians of. */
export interface RoundFigures {
  round: number;
  label: string;
  project: string;
  /** seconds its fresh stack took to start */
  upS: number;
  fanout: { phase: string; msgPerSec: number; deliveryRatio: number; loss: LossSummary; delivery?: LatencySummary; ack?: LatencySummary; deliveriesPerSec: number; account?: PhaseAccount; invalid?: string }[];
  population?: { ok: number; failed: number; connectJoin?: LatencySummary; account?: PhaseAccount };
  memory?: MemoryFigures;
  search?: SearchResult;
  chat?: { users: number; completed: number; errors: number; latency: Record<string, LatencySummary>; notApplicable: string[]; account?: PhaseAccount };
  storm?: { sockets: number; ratePerSec: number; ok: number; failed: number; connectJoin?: LatencySummary; loginConnectJoin?: LatencySummary };
  /** how long the stack took to be quiet before the chat mix and the storm */
  settled?: Partial<Record<'chat' | 'storm', { waitedS: number; quiet: boolean }>>;
}

export interface TargetReport {
  label: string;
  project: string;
  url: string;
  replicas: number;
  env: Record<string, string>;
  storm?: StormResult;
  population?: StormResult;
  fanout: FanoutResult[];
  /** the rate search over the fan-out population (profiles' `search`) */
  search?: SearchResult;
  memory?: MemoryFigures;
  /** how each replica's /metrics was reached: its internal listener or through nginx */
  metricsVia?: Record<string, string>;
  presence?: PresenceResult;
  k6?: ToolResult;
  artillery?: ToolResult;
  samples?: Sample[];
  containers?: ContainerSample[];
  replicaSummary?: ReturnType<Sampler['summary']>;
  errors?: string[];
  /** scenarios that could not be carried out, and why (e.g. no socket connected within the deadline) */
  failed?: Record<string, string>;
  chat?: ChatMixResult;
  soak?: SoakResult;
  chaos?: ChaosResult;
  capacity?: CapacityResult;
  paths?: PathResult[];
  /** the quiet wait before the chat mix and the storm (lib/settle.ts) */
  settled?: Partial<Record<'chat' | 'storm', Settled>>;
  timeline?: { t: number; label: string; sockets: number; deliveriesPerSec: number; sendsPerSec: number; errors: number }[];
}

export interface Report {
  profile: string;
  startedAt: string;
  finishedAt?: string;
  machine: Record<string, unknown>;
  machineAfter?: Record<string, unknown>;
  settings: unknown;
  /** the first round's full figures per target */
  targets: Record<string, TargetReport>;
  /** every round's headline figures per target (ABAB...) */
  rounds?: RoundFigures[];
  failures: string[];
  outDir: string;
  headline?: Record<string, unknown>;
  path?: string;
  charts?: string[];
  scenarios?: string[];
  variants?: VariantResult[];
  /** how the run was set up (report/sections/method.ts) */
  method?: { network: string; cpuset?: string; redisPersistence?: string };
}

