// Reading Prometheus text exposition (prom-client's /metrics): single values,
// and histograms as cumulative buckets, so two scrapes give the histogram of
// what happened between them (count, mean, an interpolated p99).

/** The first sample of `name` (any labels, or those whose labels contain `match`). */
export function metric(text: string, name: string, match = ''): number | undefined {
  for (const s of samples(text, name)) if (!match || s.labels.includes(match)) return s.value;
  return undefined;
}

interface RawSample {
  labels: string;
  value: number;
}

function samples(text: string, name: string): RawSample[] {
  const out: RawSample[] = [];
  const re = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\{[^}]*\\})? ([0-9.eE+-]+|NaN|\\+Inf)`, 'gm');
  for (const m of text.matchAll(re)) out.push({ labels: m[1] ?? '', value: Number(m[2]) });
  return out;
}

export interface HistogramSnapshot {
  /** upper bound (s) -> cumulative count; +Inf included */
  buckets: [number, number][];
  sum: number;
  count: number;
}

/** A histogram (summed over its series whose labels contain `match`), or undefined when the metric is absent. */
export function histogram(text: string, name: string, match = ''): HistogramSnapshot | undefined {
  const buckets = new Map<number, number>();
  let found = false;
  for (const s of samples(text, `${name}_bucket`)) {
    if (match && !s.labels.includes(match)) continue;
    const le = /le="([^"]+)"/.exec(s.labels)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + s.value);
    found = true;
  }
  if (!found) return undefined;
  const sum = samples(text, `${name}_sum`)
    .filter((s) => !match || s.labels.includes(match))
    .reduce((a, s) => a + s.value, 0);
  const count = samples(text, `${name}_count`)
    .filter((s) => !match || s.labels.includes(match))
    .reduce((a, s) => a + s.value, 0);
  return { buckets: [...buckets].sort((a, b) => a[0] - b[0]), sum, count };
}

/** What was recorded between two snapshots (a restarted process: the later one alone). */
export function histogramDelta(before: HistogramSnapshot | undefined, after: HistogramSnapshot): HistogramSnapshot {
  if (!before || after.count < before.count) return after;
  const prev = new Map(before.buckets);
  return { buckets: after.buckets.map(([b, c]) => [b, c - (prev.get(b) ?? 0)]), sum: after.sum - before.sum, count: after.count - before.count };
}

export function addHistograms(a: HistogramSnapshot | undefined, b: HistogramSnapshot): HistogramSnapshot {
  if (!a) return b;
  const m = new Map(a.buckets);
  for (const [bound, c] of b.buckets) m.set(bound, (m.get(bound) ?? 0) + c);
  return { buckets: [...m].sort((x, y) => x[0] - y[0]), sum: a.sum + b.sum, count: a.count + b.count };
}

/** The q-quantile (0..1) in seconds, linear within its bucket (as Prometheus' histogram_quantile); undefined when empty. */
export function quantile(h: HistogramSnapshot, q: number): number | undefined {
  if (!h.count) return undefined;
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (const [bound, cumulative] of h.buckets) {
    if (cumulative >= rank) {
      if (bound === Infinity) return lower; // past the last finite bucket: its bound is all we know
      const inBucket = cumulative - below;
      return inBucket > 0 ? lower + (bound - lower) * ((rank - below) / inBucket) : bound;
    }
    lower = bound;
    below = cumulative;
  }
  return lower;
}
