// Capacity, two measurements:
// - the fan-out rate search (harness/search.ts), first. First,
//   because a burst of thousands of logins can leave the local MongoDB
//   stand-in (FerretDB, on SQLite when it was measured) no longer completing writes (docs/benchmarks.md),
//   and every message is a write.
// - the most concurrent sockets held: steps of more sockets (connected at
//   `rate`/s, spread over the worker processes so each stays far under its
//   20,000-descriptor limit), each held for `holdS` while the replicas refresh
//   every connection's presence entry on their own (PRESENCE_REFRESH_MS) and,
//   against Switchboard, one observer per replica is subscribed to the
//   presence of every capacity user; a step is held when every socket
//   connected and is still connected after the hold.
import crypto from 'node:crypto';
import { nowMs, sleep } from '../lib/clock';
import type { Sample } from '../lib/sampler';
import { Sampler } from '../lib/sampler';
import type { ScenarioCtx } from './context';
import { Coordinator } from './coordinator';
import type { ClientSpec } from './client-spec';
import { cidPerReplica, connectStorm, requireConnected } from './scenarios';
import { rateSearch, type SearchResult } from './search';
import { PhaseMeter } from '../lib/accounting';

export interface CapacityStep {
  target: number;
  connected: number;
  failed: number;
  heldAfter: number;
  connectJoinP99?: number;
  errors: Record<string, number>;
  rssMb: Record<string, number>;
  held: boolean;
}

export interface CapacityResult {
  steps: CapacityStep[];
  maxHeld: number;
  search: SearchResult;
  samples: Sample[];
  errors: string[];
}

export async function runCapacity(ctx: ScenarioCtx, workers: number): Promise<CapacityResult> {
  const cap = ctx.profile.capacity!;
  const { spec, target } = ctx;
  const out: CapacityResult = { steps: [], maxHeld: 0, search: { sockets: ctx.profile.population.sockets, rooms: ctx.profile.population.rooms, p99LimitMs: cap.p99LimitMs, trials: [] }, samples: [], errors: [] };
  const sampler = new Sampler(spec.label, target.url, spec.project, spec.replicas, 5000);
  await sampler.start().catch((e: Error) => out.errors.push(`sampler: ${e.message}`));
  const h = new Coordinator(workers);
  h.progress(true);
  const run = crypto.randomBytes(4).toString('hex');
  try {
    const pp = ctx.profile.population;
    ctx.step(`[${spec.label}] capacity: fan-out rate search over ${pp.sockets} sockets in ${pp.rooms} rooms (p99 < ${cap.p99LimitMs} ms, nothing lost)`);
    h.label = `${spec.label} search population`;
    const pop = await connectStorm(h, target, { ...pp, transports: ctx.transports, tag: `${spec.label}-search`, liteListeners: ctx.profile.liteListeners });
    ctx.info(`search population: ${pop.result.ok} connected, ${pop.result.failed} failed`);
    out.search.connected = pop.result.ok;
    out.search.shortfall = pop.result.shortfall;
    requireConnected(pop.result, 'search population');
    const search = await rateSearch(h, pop.pop, { spec: { rates: cap.searchRates, durationS: cap.searchDurationS, p99LimitMs: cap.p99LimitMs, bisect: cap.bisect }, populationFailed: pop.result.failed, label: spec.label, info: ctx.info, meter: new PhaseMeter(sampler, ctx.profile.generatorLagP99LimitMs) });
    out.search = { ...search, connected: pop.result.ok, shortfall: pop.result.shortfall };
    await h.disconnectAll();
    await sleep(2000);

    ctx.step(`[${spec.label}] capacity: socket steps ${cap.sockets.join(', ')} at ${cap.rate}/s, each held ${cap.holdS} s, over ${workers} worker processes`);
    let observerCount = 0;
    if (ctx.switchboard) {
      const obs = await cidPerReplica(target.url, `lt-capobs-${run}`, spec.replicas);
      const everyone = Array.from({ length: Math.max(...cap.sockets) }, (_, i) => `lt-${run}-cap${i}`);
      const observers: ClientSpec[] = [...obs].map(([replica, cid]) => ({ key: `capobs-${replica}`, userId: `lt-${run}-obs-${replica}`.slice(0, 64), cid, rooms: [], at: nowMs(), observePresence: { userIds: everyone } }));
      observerCount = (await h.connect('capacity-observers', target.url, observers, { transports: ['websocket'] })).ok;
    }
    let have = 0;
    for (const want of cap.sockets) {
      h.label = `${spec.label} capacity ${want}`;
      const start = nowMs() + 500;
      const clients: ClientSpec[] = [];
      for (let i = have; i < want; i++) clients.push({ key: `cap${i}`, userId: `lt-${run}-cap${i}`, cid: `lt-${run}-cap${i}`, rooms: [`lt-${run}-cap-${i % 100}`], at: start + ((i - have) * 1000) / cap.rate });
      const r = await h.connect(`capacity-${want}`, target.url, clients, { transports: ctx.transports, timeoutMs: 30_000 });
      await sleep(cap.holdS * 1000);
      const heldAfter = h.totals().connected - observerCount;
      const c = await h.collect(`capacity-${want}`);
      const rssMb: Record<string, number> = {};
      for (const s of sampler.samples) rssMb[s.replica] = s.rssMb;
      const step: CapacityStep = { target: want, connected: have + r.ok, failed: r.failed, heldAfter, connectJoinP99: c.latency.connectJoin?.p99, errors: r.errors, rssMb, held: r.failed === 0 && heldAfter >= want };
      out.steps.push(step);
      ctx.info(`step ${want}: ${step.connected} connected, ${r.failed} failed, ${heldAfter} still connected after ${cap.holdS} s; connect+join p99 ${step.connectJoinP99 ?? '-'} ms; RSS ${Object.entries(rssMb).map(([k, v]) => `${k} ${v} MB`).join(', ')}`);
      if (!step.held) break;
      out.maxHeld = heldAfter;
      have = want;
    }
  } catch (e) {
    out.errors.push((e as Error).message);
    ctx.info(`capacity failed: ${(e as Error).message}`);
  } finally {
    await h.close();
    await sampler.stop();
    out.samples = sampler.samples;
  }
  return out;
}
