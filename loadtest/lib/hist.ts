// HDR histograms in microseconds: recorded in the workers, shipped to the
// coordinator compressed, merged there, summarised in milliseconds.
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

export function newHist(digits = 3): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: digits as 1 | 2 | 3, autoResize: true });
}

/** Records a latency given in milliseconds (fractions kept to the microsecond). */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

export const encode = (h: Histogram): string => hdr.encodeIntoCompressedBase64(h);
export const decode = (s: string): Histogram => hdr.decodeFromCompressedBase64(s, 32, false) as Histogram;

export function merge(encoded: (string | undefined)[]): Histogram {
  const out = newHist();
  for (const e of encoded) if (e) out.add(decode(e));
  return out;
}

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

const ms = (us: number) => Math.round(us) / 1000;

export function summarise(h: Histogram): LatencySummary {
  if (!h.totalCount) return { count: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: h.totalCount,
    mean: ms(h.mean),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}
