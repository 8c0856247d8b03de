// Soak: a steady fan-out for a long time, in windows (each its own phase, so
// loss counting and memory stay bounded), while every replica's RSS, heap and
// event-loop lag are sampled; the leak rule (lib/leak.ts) judges the steady part.
import { nowMs } from '../lib/clock';
import { leakRule, trends, type ReplicaTrend } from '../lib/leak';
import { Sampler, type Sample } from '../lib/sampler';
import type { SoakSpec } from '../profiles';
import type { ScenarioCtx } from './context';
import { Coordinator } from './coordinator';
import { connectStorm, fanout, requireConnected } from './scenarios';

export interface SoakResult extends SoakSpec {
  connected: number;
  /** sockets that did not connect and join (within the deadline, lib/deadline.ts) */
  connectFailed?: number;
  shortfall?: string;
  windows: { phase: string; deliveryRatio: number; lost: number; duplicated: number; p50?: number; p99?: number; max?: number; deliveriesPerSec: number }[];
  rule: string;
  replicas: Record<string, ReplicaTrend>;
  leaked: boolean;
  samples: Sample[];
}

export async function runSoak(ctx: ScenarioCtx, workers: number): Promise<SoakResult> {
  const o = ctx.profile.soak!;
  ctx.step(`[${ctx.spec.label}] soak: ${o.sockets} sockets in ${o.rooms} rooms, ${o.msgPerSec} msg/s for ${o.durationS} s (windows of ${o.windowS} s; leak rule after ${o.warmupS} s)`);
  const sampler = new Sampler(ctx.spec.label, ctx.target.url, ctx.spec.project, ctx.spec.replicas, o.durationS > 600 ? 10_000 : 2000);
  const h = new Coordinator(workers);
  h.label = `${ctx.spec.label} soak`;
  h.progress(true);
  try {
    const pop = await connectStorm(h, ctx.target, { sockets: o.sockets, rate: o.rate, rooms: o.rooms, transports: ctx.transports, tag: `${ctx.spec.label}-soak` });
    requireConnected(pop.result);
    if (pop.result.shortfall) ctx.info(`shortfall: ${pop.result.shortfall}; going on with the sockets it has`);
    await sampler.start();
    const t0 = nowMs();
    const windows: SoakResult['windows'] = [];
    for (let w = 0; nowMs() - t0 < o.durationS * 1000; w++) {
      const left = o.durationS - (nowMs() - t0) / 1000;
      const phase = `soak-${w}`;
      sampler.phase = phase;
      h.label = `${ctx.spec.label} ${phase}`;
      const r = await fanout(h, pop.pop, { phase, msgPerSec: o.msgPerSec, durationS: Math.max(1, Math.min(o.windowS, Math.round(left))) });
      const d = r.latency.delivery;
      windows.push({ phase, deliveryRatio: r.deliveryRatio, lost: r.loss.lost, duplicated: r.loss.duplicated, p50: d?.p50, p99: d?.p99, max: d?.max, deliveriesPerSec: r.deliveriesPerSec });
      ctx.info(`${phase}: ratio ${r.deliveryRatio.toFixed(4)}, p99 ${d?.p99} ms, ${r.deliveriesPerSec} deliveries/s; RSS ${latest(sampler.samples)}`);
    }
    await sampler.stop();
    const replicas = trends(sampler.samples, t0 + o.warmupS * 1000, o.leak);
    const leaked = Object.values(replicas).some((x) => x.leak);
    for (const [rep, tr] of Object.entries(replicas))
      ctx.info(`${rep}: heap ${tr.heapMbPerMin ?? '-'} MB/min, RSS ${tr.rssMbPerMin} MB/min over ${tr.spanMin} min, lag p99 mean ${tr.lagP99MeanMs ?? '-'} ms${tr.leak ? `: LEAK (${tr.why})` : ''}`);
    return { ...o, connected: pop.result.ok, connectFailed: pop.result.failed, shortfall: pop.result.shortfall, windows, rule: leakRule(o.leak, o.warmupS), replicas, leaked, samples: sampler.samples };
  } finally {
    await sampler.stop();
    await h.close();
  }
}

function latest(samples: Sample[]): string {
  const last = new Map<string, number>();
  for (const s of samples) last.set(s.replica, s.rssMb);
  return [...last].map(([r, mb]) => `${r} ${mb} MB`).join(', ') || '-';
}
