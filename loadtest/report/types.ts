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

export interface TargetReport {
  label: string;
  project: string;
  url: string;
  replicas: number;
  env: Record<string, string>;
  storm?: StormResult;
  population?: StormResult;
  fanout: FanoutResult[];
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
  timeline?: { t: number; label: string; sockets: number; deliveriesPerSec: number; sendsPerSec: number; errors: number }[];
}

export interface Report {
  profile: string;
  startedAt: string;
  finishedAt?: string;
  machine: Record<string, unknown>;
  machineAfter?: Record<string, unknown>;
  settings: unknown;
  targets: Record<string, TargetReport>;
  failures: string[];
  outDir: string;
  headline?: Record<string, unknown>;
  path?: string;
  charts?: string[];
  scenarios?: string[];
  variants?: VariantResult[];
}

