// The fan-out rate search: over a connected population, fan-out at the given
// rates in ascending order until one misses p99 < limit or loses anything,
// then `bisect` halvings between the last pass and the first failure. The
// best rate that passed is the saturation headline (the standard profile
// runs it in every round; PROFILE=capacity before its socket steps). A trial
// whose generators ran late (lib/accounting.ts) proves nothing about the
// server: it is recorded as invalid and ends the search there.
import type { PhaseMeter } from '../lib/accounting';
import type { Coordinator } from './coordinator';
import { fanout, type Population } from './scenarios';

export interface SearchSpec {
  rates: number[];
  durationS: number;
  p99LimitMs: number;
  bisect: number;
}

export interface SearchTrial {
  msgPerSec: number;
  p99?: number;
  lost: number;
  deliveryRatio: number;
  deliveriesPerSec: number;
  sendErrors: Record<string, number>;
  pass: boolean;
  /** set when the generators ran late in this trial: it does not count */
  invalid?: string;
  /** server-side CPU-µs per delivered message in this trial */
  serverCpuUsPerDelivery?: number;
}

export interface SearchResult {
  sockets: number;
  rooms: number;
  p99LimitMs: number;
  trials: SearchTrial[];
  best?: number;
  firstFail?: number;
  connected?: number;
  shortfall?: string;
  /** the search stopped at an invalid trial: the best rate is a lower bound */
  stoppedInvalid?: boolean;
}

export async function rateSearch(h: Coordinator, pop: Population, o: { spec: SearchSpec; populationFailed: number; label: string; info: (m: string) => void; meter?: PhaseMeter }): Promise<SearchResult> {
  const sockets = pop.rooms.reduce((a, r) => a + r.length, 0);
  const out: SearchResult = { sockets, rooms: pop.rooms.length, p99LimitMs: o.spec.p99LimitMs, trials: [] };
  const trial = async (rate: number): Promise<SearchTrial> => {
    h.label = `${o.label} search ${rate}/s`;
    const r = await fanout(h, pop, { phase: `search-${rate}`, msgPerSec: rate, durationS: o.spec.durationS }, o.meter);
    const p99 = r.latency.delivery?.p99;
    const a = r.account;
    const t: SearchTrial = {
      msgPerSec: rate,
      p99,
      lost: r.loss.lost,
      deliveryRatio: r.deliveryRatio,
      deliveriesPerSec: r.deliveriesPerSec,
      sendErrors: r.sendErrors,
      pass: !r.invalid && o.populationFailed === 0 && r.loss.lost === 0 && r.deliveryRatio >= 1 && p99 !== undefined && p99 < o.spec.p99LimitMs,
      invalid: r.invalid,
      serverCpuUsPerDelivery: a && a.delivered ? Math.round((a.serverUs / a.delivered) * 100) / 100 : undefined,
    };
    out.trials.push(t);
    o.info(`${rate} msg/s: p99 ${p99 ?? '-'} ms, lost ${t.lost}, ratio ${t.deliveryRatio.toFixed(4)}, ${t.deliveriesPerSec} deliveries/s, send errors ${Object.entries(t.sendErrors).map(([k, v]) => `${k}: ${v}`).join(', ') || 0}: ${t.invalid ? `INVALID (${t.invalid})` : t.pass ? 'pass' : 'FAIL'}`);
    return t;
  };
  let best: number | undefined;
  let fail: number | undefined;
  for (const rate of o.spec.rates) {
    const t = await trial(rate);
    if (t.pass) best = rate;
    else {
      if (t.invalid) out.stoppedInvalid = true;
      else fail = rate;
      break;
    }
  }
  for (let i = 0; i < o.spec.bisect && fail !== undefined; i++) {
    const mid = Math.round(((best ?? 0) + fail) / 2);
    if (mid === best || mid === fail) break;
    const t = await trial(mid);
    if (t.pass) best = mid;
    else if (t.invalid) {
      out.stoppedInvalid = true;
      break;
    } else fail = mid;
  }
  out.best = best;
  out.firstFail = fail;
  return out;
}
