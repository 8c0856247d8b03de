// What a load generator costs and how late it runs, per phase: its own CPU
// time (process.cpuUsage) and the delay of its event loop
// (perf_hooks.monitorEventLoopDelay). A generator whose loop runs late sends
// late and reads deliveries late, which shows up as server latency: a phase
// whose generator delay p99 is over the profile's bound is marked invalid
// (lib/accounting.ts) and left out of every ratio.
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** The timer interval of the delay monitor; each sample is this interval plus the delay, so it is taken off. */
export const LAG_RESOLUTION_MS = 10;

export interface GeneratorReading {
  pid: number;
  /** user + system CPU since the mark, µs */
  cpuUs: number;
  /** event-loop delay since the mark, ms (the monitor's interval taken off) */
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** wall time since the mark, ms */
  wallMs: number;
}

const lagMs = (ns: number) => Math.max(0, Math.round((ns / 1e6 - LAG_RESOLUTION_MS) * 100) / 100);

export class GeneratorGauge {
  private readonly delay: ReturnType<typeof monitorEventLoopDelay> = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private cpu = process.cpuUsage();
  private at = performance.now();

  constructor() {
    this.delay.enable();
  }

  mark(): void {
    this.delay.reset();
    this.cpu = process.cpuUsage();
    this.at = performance.now();
  }

  read(): GeneratorReading {
    const d = process.cpuUsage(this.cpu);
    const h = this.delay;
    const empty = h.count === 0;
    return {
      pid: process.pid,
      cpuUs: d.user + d.system,
      lagP50Ms: empty ? 0 : lagMs(h.percentile(50)),
      lagP99Ms: empty ? 0 : lagMs(h.percentile(99)),
      lagMaxMs: empty ? 0 : lagMs(h.max),
      wallMs: Math.round(performance.now() - this.at),
    };
  }
}
