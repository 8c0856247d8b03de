// Waiting for the stack to be quiet before a scenario that must not inherit
// the previous one's aftermath (a fan-out population of thousands leaving at
// once keeps Switchboard's replicas and database busy for seconds: presence,
// room leaves, lastSeen writes). The wait itself is reported: it is what the
// wave cost.
import { machineCpu } from './cgroup';

export interface SettleRule {
  /** the machine counts as quiet under this share busy (%, all cores) */
  busyPct: number;
  /** ...for this many consecutive one-second readings */
  forS: number;
  /** give up after this long and go on (the report says so) */
  maxS: number;
}

export const SETTLE: SettleRule = { busyPct: 20, forS: 3, maxS: 60 };

export interface Settled {
  /** from the call until the quiet run ended (or maxS) */
  waitedS: number;
  quiet: boolean;
  /** the busy share of each one-second reading, % */
  busyPct: number[];
}

/** Takes one reading: the machine's busy share over the next second (%). */
export type BusyReading = () => Promise<number>;

export const machineBusyOverASecond: BusyReading = async () => {
  const a = machineCpu();
  await new Promise((r) => setTimeout(r, 1000));
  const b = machineCpu();
  return b.totalUs > a.totalUs ? ((b.busyUs - a.busyUs) / (b.totalUs - a.totalUs)) * 100 : 0;
};

/** Readings until `forS` in a row are under `busyPct`, or `maxS` readings. */
export async function settle(rule: SettleRule = SETTLE, reading: BusyReading = machineBusyOverASecond): Promise<Settled> {
  const busyPct: number[] = [];
  let run = 0;
  while (busyPct.length < rule.maxS) {
    const pct = await reading();
    busyPct.push(Math.round(pct * 10) / 10);
    run = pct < rule.busyPct ? run + 1 : 0;
    if (run >= rule.forS) return { waitedS: busyPct.length, quiet: true, busyPct };
  }
  return { waitedS: busyPct.length, quiet: false, busyPct };
}

/** One line for the report. */
export function settledLine(s: Settled, rule: SettleRule = SETTLE): string {
  return s.quiet
    ? `started ${s.waitedS} s after the previous scenario (the machine under ${rule.busyPct} % busy for ${rule.forS} s)`
    : `started after ${s.waitedS} s without the machine settling (still ${s.busyPct.at(-1)} % busy)`;
}
