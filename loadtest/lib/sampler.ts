// Samples every replica of a target while it runs: RSS, heap, CPU and
// event-loop lag from its /metrics (reached through nginx with a cid that
// lands on it), and every container's CPU and memory from `docker stats`.
import { spawn } from 'node:child_process';
import { cidPerReplica } from '../harness/scenarios';

export interface Sample {
  t: number;
  replica: string;
  rssMb: number;
  heapMb?: number;
  cpuPct?: number;
  lagMs?: number;
}

export interface ContainerSample {
  t: number;
  container: string;
  cpuPct: number;
  memMb: number;
}

function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export class Sampler {
  readonly samples: Sample[] = [];
  readonly containers: ContainerSample[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly lastCpu = new Map<string, { t: number; s: number }>();
  phase = '';

  constructor(readonly target: string, readonly url: string, readonly project: string, readonly replicas: number, readonly everyMs = 2000) {}

  async start(): Promise<void> {
    const cids = await cidPerReplica(this.url, `lt-sampler`, this.replicas);
    this.loops.push(this.scrapeLoop(cids), this.dockerLoop());
  }

  private async scrapeLoop(cids: Map<string, string>): Promise<void> {
    while (!this.stopped) {
      const t = Date.now();
      await Promise.all(
        [...cids].map(async ([replica, cid]) => {
          try {
            const res = await fetch(`${this.url}/metrics?cid=${cid}`, { signal: AbortSignal.timeout(3000) });
            const text = await res.text();
            const rss = metric(text, 'process_resident_memory_bytes');
            const heap = metric(text, 'nodejs_heap_size_used_bytes');
            const cpu = metric(text, 'process_cpu_seconds_total');
            const lag = metric(text, 'nodejs_eventloop_lag_p99_seconds') ?? metric(text, 'nodejs_eventloop_lag_seconds');
            let cpuPct: number | undefined;
            const prev = this.lastCpu.get(replica);
            if (cpu !== undefined) {
              if (prev) cpuPct = Math.round(((cpu - prev.s) / ((t - prev.t) / 1000)) * 1000) / 10;
              this.lastCpu.set(replica, { t, s: cpu });
            }
            if (rss !== undefined) this.samples.push({ t, replica, rssMb: Math.round(rss / 1e5) / 10, heapMb: heap === undefined ? undefined : Math.round(heap / 1e5) / 10, cpuPct, lagMs: lag === undefined ? undefined : Math.round(lag * 1e5) / 100 });
          } catch {
            /* a replica down or too busy to answer in time: no sample this round, a gap in the chart */
          }
        }),
      );
      await new Promise((r) => setTimeout(r, Math.max(0, this.everyMs - (Date.now() - t))));
    }
  }

  private async dockerLoop(): Promise<void> {
    while (!this.stopped) {
      const t = Date.now();
      const out = await new Promise<string>((resolve) => {
        const p = spawn('docker', ['stats', '--no-stream', '--format', '{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}'], { stdio: ['ignore', 'pipe', 'ignore'] });
        let s = '';
        const timer = setTimeout(() => p.kill('SIGKILL'), 20_000); // a daemon that stopped answering: no sample this round
        p.stdout.on('data', (c: Buffer) => (s += c));
        p.on('close', () => {
          clearTimeout(timer);
          resolve(s);
        });
        p.on('error', () => resolve(''));
      });
      for (const line of out.split('\n')) {
        const [name, cpu, mem] = line.split('\t');
        if (!name?.startsWith(`${this.project}-`)) continue;
        const m = /([0-9.]+)\s*([KMG]i?B)/.exec(mem ?? '');
        const unit = m?.[2] ?? 'MiB';
        const memMb = m ? Number(m[1]) * (unit.startsWith('G') ? 1024 : unit.startsWith('K') ? 1 / 1024 : 1) : 0;
        this.containers.push({ t, container: name.slice(this.project.length + 1), cpuPct: Number.parseFloat(cpu), memMb: Math.round(memMb * 10) / 10 });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 5000 - (Date.now() - t))));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
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
