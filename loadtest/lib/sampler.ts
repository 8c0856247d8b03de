// Samples a target while it runs: every replica's RSS, heap, CPU and
// event-loop lag from its own /metrics (lib/replica-metrics.ts), and every
// container's CPU and memory from its cgroup (lib/cgroup.ts; cheap, where
// `docker stats` cost the daemon CPU on the machine being measured). The
// per-phase CPU accounting (lib/accounting.ts) reads the same cgroups and
// metrics at phase boundaries.
import { CgroupReader } from './cgroup';
import { metric } from './prom';
import { ReplicaMetrics } from './replica-metrics';

export interface Sample {
  t: number;
  replica: string;
  rssMb: number;
  heapMb?: number;
  /** Heap in use right after the replica's latest full GC (its live set); absent before the first. */
  heapLiveMb?: number;
  /** Full GCs so far (prom-client's GC histogram count of kind "major"). */
  fullGcs?: number;
  cpuPct?: number;
  lagMs?: number;
}

export interface ContainerSample {
  t: number;
  container: string;
  cpuPct: number;
  memMb: number;
}

/** What the accounting reads CPU from: a project's containers (lib/cgroup.ts) or plain processes (lib/proc-cpu.ts). */
export interface CpuSource {
  readonly list: { name: string }[];
  read: CgroupReader['read'];
}

export class Sampler {
  readonly samples: Sample[] = [];
  readonly containers: ContainerSample[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly lastCpu = new Map<string, { t: number; s: number }>();
  private readonly wakers = new Set<() => void>();
  cgroups?: CpuSource;
  metrics?: Pick<ReplicaMetrics, 'scrape' | 'endpoints'>;
  phase = '';

  constructor(readonly target: string, readonly url: string, readonly project: string, readonly replicas: number, readonly everyMs = 2000) {}

  /** `sources`: readers given by the caller (plain processes, lib/proc-cpu.ts) instead of the project's containers. */
  async start(sources?: { cgroups: CpuSource; metrics: Pick<ReplicaMetrics, 'scrape' | 'endpoints'> }): Promise<void> {
    if (sources) Object.assign(this, sources);
    else {
      const reader = await CgroupReader.of(this.project);
      if (!reader.list.length) throw new Error(`no running containers found for project ${this.project}`);
      this.cgroups = reader;
      this.metrics = await ReplicaMetrics.of(reader.list, this.url);
    }
    this.loops.push(this.scrapeLoop(), this.cgroupLoop());
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        r();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      this.wakers.add(wake);
    });
  }

  private async scrapeLoop(): Promise<void> {
    while (!this.stopped) {
      const t = Date.now();
      const texts = await this.metrics!.scrape();
      for (const [replica, text] of Object.entries(texts)) {
        const rss = metric(text, 'process_resident_memory_bytes');
        const heap = metric(text, 'nodejs_heap_size_used_bytes');
        const heapLive = metric(text, 'nodejs_heap_used_after_major_gc_bytes');
        const fullGcs = metric(text, 'nodejs_gc_duration_seconds_count', 'kind="major"');
        const cpu = metric(text, 'process_cpu_seconds_total');
        const lag = metric(text, 'nodejs_eventloop_lag_p99_seconds') ?? metric(text, 'nodejs_eventloop_lag_seconds');
        let cpuPct: number | undefined;
        const prev = this.lastCpu.get(replica);
        if (cpu !== undefined) {
          if (prev) cpuPct = Math.round(((cpu - prev.s) / ((t - prev.t) / 1000)) * 1000) / 10;
          this.lastCpu.set(replica, { t, s: cpu });
        }
        if (rss !== undefined) this.samples.push({ t, replica, rssMb: Math.round(rss / 1e5) / 10, heapMb: heap === undefined ? undefined : Math.round(heap / 1e5) / 10, heapLiveMb: heapLive === undefined ? undefined : Math.round(heapLive / 1e5) / 10, fullGcs, cpuPct, lagMs: lag === undefined ? undefined : Math.round(lag * 1e5) / 100 });
      }
      await this.sleep(this.everyMs - (Date.now() - t));
    }
  }

  private async cgroupLoop(): Promise<void> {
    const last = new Map<string, { t: number; cpuUs: number }>();
    while (!this.stopped) {
      const t = Date.now();
      for (const [container, r] of Object.entries(this.cgroups!.read())) {
        const prev = last.get(container);
        if (r.cpuUs !== undefined) {
          if (prev && r.cpuUs >= prev.cpuUs) this.containers.push({ t, container, cpuPct: Math.round(((r.cpuUs - prev.cpuUs) / ((t - prev.t) * 1000)) * 1000) / 10, memMb: Math.round((r.memBytes ?? 0) / 1e5) / 10 });
          last.set(container, { t, cpuUs: r.cpuUs });
        }
      }
      await this.sleep(5000 - (Date.now() - t));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of [...this.wakers]) wake();
    await Promise.all(this.loops);
  }

  /** Per replica: peak RSS, mean CPU, p99-ish lag, first and last RSS (growth). */
  summary(): Record<string, { samples: number; rssFirstMb: number; rssLastMb: number; rssPeakMb: number; cpuMeanPct: number; lagMaxMs: number }> {
    const out: ReturnType<Sampler['summary']> = {};
    const by = new Map<string, Sample[]>();
    for (const s of this.samples) by.set(s.replica, [...(by.get(s.replica) ?? []), s]);
    for (const [r, ss] of by) {
      const cpus = ss.map((s) => s.cpuPct).filter((c): c is number => c !== undefined);
      out[r] = {
        samples: ss.length,
        rssFirstMb: ss[0].rssMb,
        rssLastMb: ss[ss.length - 1].rssMb,
        rssPeakMb: Math.max(...ss.map((s) => s.rssMb)),
        cpuMeanPct: cpus.length ? Math.round((cpus.reduce((a, b) => a + b, 0) / cpus.length) * 10) / 10 : 0,
        lagMaxMs: Math.max(0, ...ss.map((s) => s.lagMs ?? 0)),
      };
    }
    return out;
  }
}
