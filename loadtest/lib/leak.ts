// The soak's leak rule: per replica, a least-squares line through its RSS and
// its heap over the steady part (after the warm-up); a leak is a slope above
// the limit that also added at least `minGrowthMb` over that part (so a short,
// noisy window cannot fail on a few MB). The heap is the one in use right
// after each full GC (the live set): used heap sampled at other times also
// counts garbage, and over a minute or two its slope is the GC's sawtooth.
// A target that does not report it is judged on used heap.
import type { Sample } from './sampler';

export interface LeakLimits {
  maxHeapMbPerMin: number;
  maxRssMbPerMin: number;
  minGrowthMb: number;
}

export interface ReplicaTrend {
  samples: number;
  spanMin: number;
  heapMbPerMin?: number;
  /** What the heap slope was drawn through: the heap after each full GC, or used heap as sampled. */
  heapMeasure?: 'after full GC' | 'used';
  /** Full GCs during the steady part. */
  fullGcs?: number;
  rssMbPerMin: number;
  heapGrowthMb?: number;
  rssGrowthMb: number;
  lagP99MeanMs?: number;
  lagP99MaxMs?: number;
  leak: boolean;
  why?: string;
}

export const leakRule = (l: LeakLimits, warmupS: number) =>
  `after the first ${warmupS} s, per replica, least-squares slope of the heap in use after each full GC (the steady part needs at least ${MIN_FULL_GCS}; used heap where the target does not report it) > ${l.maxHeapMbPerMin} MB/min or of RSS > ${l.maxRssMbPerMin} MB/min, with at least ${l.minGrowthMb} MB of growth along that line between its first and last point`;

/**
 * Full GCs the heap slope needs in the steady part: the line runs through the
 * live set it started with and each one after; with none the heap is left
 * unjudged (RSS still is). The minimum growth guards a line of few points.
 */
export const MIN_FULL_GCS = 1;

/** The heap points of one replica's steady samples, and what they measure. */
function heapPoints(ss: Sample[]): { points: { t: number; y: number }[]; measure?: ReplicaTrend['heapMeasure']; fullGcs?: number } {
  const live = ss.filter((s) => s.heapLiveMb !== undefined && s.fullGcs !== undefined);
  if (live.length > 0) {
    // The live set the steady part started with, then one point per sample after a new full GC.
    const after = live.filter((s, i) => i === 0 || s.fullGcs !== live[i - 1].fullGcs);
    const fullGcs = live[live.length - 1].fullGcs! - live[0].fullGcs!;
    const points = after.map((s) => ({ t: s.t, y: s.heapLiveMb! }));
    return { points: fullGcs >= MIN_FULL_GCS ? points : [], measure: 'after full GC', fullGcs };
  }
  const points = ss.filter((s) => s.heapMb !== undefined).map((s) => ({ t: s.t, y: s.heapMb! }));
  return { points, measure: points.length > 1 ? 'used' : undefined };
}

/** Slope (per minute) of y over t (ms) by least squares. */
function slopePerMin(points: { t: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den ? (num / den) * 60_000 : 0;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

export function trends(samples: Sample[], steadyFrom: number, l: LeakLimits): Record<string, ReplicaTrend> {
  const by = new Map<string, Sample[]>();
  for (const s of samples) if (s.t >= steadyFrom) by.set(s.replica, [...(by.get(s.replica) ?? []), s]);
  const out: Record<string, ReplicaTrend> = {};
  for (const [replica, ss] of by) {
    const spanMin = ss.length > 1 ? (ss[ss.length - 1].t - ss[0].t) / 60_000 : 0;
    const rss = slopePerMin(ss.map((s) => ({ t: s.t, y: s.rssMb })));
    const heapPts = heapPoints(ss);
    const heap = heapPts.points.length > 1 ? slopePerMin(heapPts.points) : undefined;
    // Growth only where there are points: a line through the live set at two GCs says nothing beyond them.
    const heapSpanMin = heapPts.points.length > 1 ? (heapPts.points[heapPts.points.length - 1].t - heapPts.points[0].t) / 60_000 : 0;
    const lags = ss.map((s) => s.lagMs).filter((x): x is number => x !== undefined);
    const tr: ReplicaTrend = {
      samples: ss.length,
      spanMin: r2(spanMin),
      rssMbPerMin: r2(rss),
      rssGrowthMb: r2(rss * spanMin),
      heapMbPerMin: heap === undefined ? undefined : r2(heap),
      heapGrowthMb: heap === undefined ? undefined : r2(heap * heapSpanMin),
      heapMeasure: heapPts.measure,
      fullGcs: heapPts.fullGcs,
      lagP99MeanMs: lags.length ? r2(lags.reduce((a, b) => a + b, 0) / lags.length) : undefined,
      lagP99MaxMs: lags.length ? Math.max(...lags) : undefined,
      leak: false,
    };
    const why: string[] = [];
    if (heap !== undefined && heap > l.maxHeapMbPerMin && heap * heapSpanMin >= l.minGrowthMb) why.push(`heap ${heapPts.measure === 'after full GC' ? 'after full GC ' : ''}+${r2(heap)} MB/min (+${r2(heap * heapSpanMin)} MB)`);
    if (rss > l.maxRssMbPerMin && rss * spanMin >= l.minGrowthMb) why.push(`RSS +${r2(rss)} MB/min (+${r2(rss * spanMin)} MB)`);
    if (why.length) {
      tr.leak = true;
      tr.why = why.join(', ');
    }
    out[replica] = tr;
  }
  return out;
}
