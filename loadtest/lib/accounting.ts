// CPU accounting per phase: what every container of the target (by its
// cgroup), the load generators (each worker's own process.cpuUsage, and the
// coordinator's) and the whole machine (/proc/stat) spent between the phase's
// start and the end of its settle, with the phase's sends and deliveries, so
// the report can give CPU-µs per delivered and per sent message split into
// replicas, Redis, database, nginx and generators. Also per phase: the
// generators' event-loop delay (a phase over the profile's bound is marked
// invalid and left out of every ratio), and the replicas' own timings of a
// send (store, Redis, broadcast), for the attribution of delivery time.
import type { Coordinator } from '../harness/coordinator';
import { nowMs } from './clock';
import { machineCpu, SERVER_GROUPS, type Group } from './cgroup';
import type { GeneratorReading } from './generator-gauge';
import { histogram, histogramDelta, addHistograms, quantile, type HistogramSnapshot } from './prom';
import type { Sampler } from './sampler';

/** The replicas' histograms that say where a send's time goes; a missing one is reported as "not exported". */
export const SERVER_TIMINGS: { key: string; metric: string; match?: string; what: string }[] = [
  { key: 'ack', metric: 'sb_socket_ack_seconds', match: 'event="message:send"', what: 'message:send, receipt to ack' },
  { key: 'limit', metric: 'sb_send_stage_seconds', match: 'stage="limit"', what: 'stage limit (rate limit)' },
  { key: 'store', metric: 'sb_send_stage_seconds', match: 'stage="store"', what: 'stage store (database insert, queueing included)' },
  { key: 'redis', metric: 'sb_send_stage_seconds', match: 'stage="redis"', what: 'stage redis (round trips before the broadcast)' },
  { key: 'broadcast', metric: 'sb_send_stage_seconds', match: 'stage="broadcast"', what: 'stage broadcast' },
  { key: 'insert', metric: 'sb_message_insert_seconds', what: 'one group-commit insertMany' },
];

export interface Timing {
  count: number;
  meanMs?: number;
  p99Ms?: number;
}

export interface PhaseAccount {
  phase: string;
  /** seconds from the phase's mark to the end of its settle */
  wallS: number;
  /** CPU µs per container */
  containers: Record<string, number>;
  /** CPU µs per group of containers */
  groups: Record<Group, number>;
  /** replicas + redis + database + nginx, µs */
  serverUs: number;
  generators: {
    /** workers + coordinator, µs */
    cpuUs: number;
    coordinatorCpuUs: number;
    workers: GeneratorReading[];
    /** the worst worker's event-loop delay p99 and max, ms */
    lagP99Ms: number;
    lagMaxMs: number;
  };
  /** the whole machine's busy share over the phase's schedule (all cores, every process on it), % */
  machineBusyPct: number;
  /**
   * CPU the machine spent outside the target's containers and the generators over the phase, in cores:
   * other processes (other projects' tests on a shared machine, the Docker daemon, the kernel's own threads).
   * Not part of any per-message figure; it says how much the machine was not the benchmark's.
   */
  outsideCores?: number;
  delivered: number;
  sent: number;
  connects?: number;
  /** container groups with no CPU figure (their cgroup could not be read) */
  missing: Group[];
  /** set when the phase does not count: why */
  invalid?: string;
  /** the replicas' own timings over the phase, summed over replicas; undefined entries were not exported */
  server: Record<string, Timing | undefined>;
}

export interface MeterMark {
  t: number;
  cgroups: Record<string, { cpuUs?: number; group: Group }>;
  machine: { busyUs: number; totalUs: number };
  coordinator: NodeJS.CpuUsage;
  metrics: Record<string, string>;
}

const GROUPS: Group[] = [...SERVER_GROUPS, 'other'];

/** The phase's invalid reason under the rule, or undefined. */
export function lagRule(lagP99Ms: number, limitMs: number): string | undefined {
  return lagP99Ms > limitMs ? `generator event-loop delay p99 ${lagP99Ms} ms > ${limitMs} ms` : undefined;
}

export class PhaseMeter {
  constructor(
    private readonly sampler: Sampler | undefined,
    readonly lagLimitMs: number,
  ) {}

  async begin(h: Coordinator): Promise<MeterMark> {
    // The scrape first: its own cost to the replicas falls before the mark.
    const metrics = (await this.sampler?.metrics?.scrape()) ?? {};
    await h.genMark();
    return { t: nowMs(), cgroups: this.sampler?.cgroups?.read() ?? {}, machine: machineCpu(), coordinator: process.cpuUsage(), metrics };
  }

  /** A window of the machine's busy share (the schedule alone, without the lead-in and the settle). */
  machineWindow(fromMs: number, toMs: number): () => number | undefined {
    let a: ReturnType<typeof machineCpu> | undefined;
    let b: ReturnType<typeof machineCpu> | undefined;
    const t1 = setTimeout(() => (a = machineCpu()), Math.max(0, fromMs - nowMs()));
    const t2 = setTimeout(() => (b = machineCpu()), Math.max(0, toMs - nowMs()));
    return () => {
      clearTimeout(t1);
      clearTimeout(t2);
      return a && b && b.totalUs > a.totalUs ? Math.round(((b.busyUs - a.busyUs) / (b.totalUs - a.totalUs)) * 1000) / 10 : undefined;
    };
  }

  async end(h: Coordinator, mark: MeterMark, phase: string, counts: { delivered: number; sent: number; connects?: number }, scheduleBusyPct?: number): Promise<PhaseAccount> {
    const t = nowMs();
    const cg = this.sampler?.cgroups?.read() ?? {};
    const machine = machineCpu();
    const coordinator = process.cpuUsage(mark.coordinator);
    const workers = await h.genRead();
    const metrics = (await this.sampler?.metrics?.scrape()) ?? {};
    const containers: Record<string, number> = {};
    const groups = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
    const seen = new Set<Group>();
    for (const [name, now] of Object.entries(cg)) {
      const before = mark.cgroups[name]?.cpuUs;
      // A container restarted in the phase (chaos) starts from 0 again: its later reading alone.
      if (now.cpuUs === undefined) continue;
      const us = before !== undefined && now.cpuUs >= before ? now.cpuUs - before : now.cpuUs;
      containers[name] = Math.round(us);
      groups[now.group] += us;
      seen.add(now.group);
    }
    for (const g of GROUPS) groups[g] = Math.round(groups[g]);
    // A target without a database (the stock server) has none to miss.
    const expected: Group[] = ['replicas', 'redis', 'nginx', ...(Object.values(cg).some((c) => c.group === 'database') ? (['database'] as Group[]) : [])];
    const coordinatorUs = coordinator.user + coordinator.system;
    const workersUs = workers.reduce((a, w) => a + w.cpuUs, 0);
    const lagP99Ms = Math.max(0, ...workers.map((w) => w.lagP99Ms));
    const busy = machine.totalUs > mark.machine.totalUs ? ((machine.busyUs - mark.machine.busyUs) / (machine.totalUs - mark.machine.totalUs)) * 100 : 0;
    const wallUs = (t - mark.t) * 1000;
    const accountedUs = Object.values(containers).reduce((a, b) => a + b, 0) + workersUs + coordinatorUs;
    const outsideCores = wallUs > 0 ? Math.max(0, (machine.busyUs - mark.machine.busyUs - accountedUs) / wallUs) : undefined;
    return {
      phase,
      wallS: Math.round((t - mark.t) / 100) / 10,
      containers,
      groups,
      serverUs: SERVER_GROUPS.reduce((a, g) => a + groups[g], 0),
      generators: { cpuUs: Math.round(workersUs + coordinatorUs), coordinatorCpuUs: coordinatorUs, workers, lagP99Ms, lagMaxMs: Math.max(0, ...workers.map((w) => w.lagMaxMs)) },
      machineBusyPct: scheduleBusyPct ?? Math.round(busy * 10) / 10,
      outsideCores: outsideCores === undefined ? undefined : Math.round(outsideCores * 100) / 100,
      ...counts,
      missing: expected.filter((g) => !seen.has(g)),
      invalid: lagRule(lagP99Ms, this.lagLimitMs),
      server: serverTimings(mark.metrics, metrics),
    };
  }
}

/** Each of SERVER_TIMINGS over the phase, summed over the replicas (undefined: no replica exports it). */
export function serverTimings(before: Record<string, string>, after: Record<string, string>): Record<string, Timing | undefined> {
  const out: Record<string, Timing | undefined> = {};
  for (const s of SERVER_TIMINGS) {
    let sum: HistogramSnapshot | undefined;
    for (const [replica, text] of Object.entries(after)) {
      const now = histogram(text, s.metric, s.match);
      if (!now) continue;
      sum = addHistograms(sum, histogramDelta(before[replica] ? histogram(before[replica], s.metric, s.match) : undefined, now));
    }
    if (!sum) {
      out[s.key] = undefined;
      continue;
    }
    const p99 = quantile(sum, 0.99);
    out[s.key] = { count: sum.count, meanMs: sum.count ? Math.round((sum.sum / sum.count) * 1e5) / 100 : undefined, p99Ms: p99 === undefined ? undefined : Math.round(p99 * 1e5) / 100 };
  }
  return out;
}

/** CPU-µs per delivered (or sent) message, by group, generators and server side; undefined without any. */
export function perMessage(a: PhaseAccount, per: 'delivered' | 'sent'): Record<Group | 'generators' | 'server', number> | undefined {
  const n = a[per];
  if (!n) return undefined;
  const r = (us: number) => Math.round((us / n) * 100) / 100;
  return {
    replicas: r(a.groups.replicas),
    redis: r(a.groups.redis),
    database: r(a.groups.database),
    nginx: r(a.groups.nginx),
    other: r(a.groups.other),
    generators: r(a.generators.cpuUs),
    server: r(a.serverUs),
  };
}
