// The repeats summary: for every headline figure, its median and range over
// the rounds per target, and the median and range of the per-round ratio
// Switchboard / stock (each round's pair measured on fresh stacks of the same
// age). A phase marked invalid (its generators ran late) is left out of every
// figure and ratio. A ratio whose range reaches across 1.0 is "no measurable
// difference". Also the checks of the CPU accounting the smoke profile makes.
import { perMessage, type PhaseAccount } from '../lib/accounting';
import type { Profile } from '../profiles';
import type { Report, RoundFigures } from './types';

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: (number | undefined)[]): Spread | undefined {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

export type Verdict = 'Switchboard higher' | 'Switchboard lower' | 'no measurable difference';

export interface FigureRow {
  key: string;
  figure: string;
  unit: string;
  switchboard?: Spread;
  stock?: Spread;
  /** per round Switchboard / stock, over the rounds where both counted */
  ratio?: Spread;
  verdict?: Verdict;
  /** rounds left out because a phase was invalid, per target */
  invalid: Record<string, number>;
}

export function verdictOf(ratio: Spread | undefined): Verdict | undefined {
  if (!ratio) return undefined;
  if (ratio.min <= 1 && ratio.max >= 1) return 'no measurable difference';
  return ratio.min > 1 ? 'Switchboard higher' : 'Switchboard lower';
}

type Pick = (r: RoundFigures) => number | undefined | 'invalid';

const phaseOf = (r: RoundFigures, name: string) => r.fanout.find((f) => f.phase === name);

/** A figure of a fan-out phase; 'invalid' when the phase does not count. */
const fromPhase =
  (name: string, get: (f: RoundFigures['fanout'][number], a?: PhaseAccount) => number | undefined): Pick =>
  (r) => {
    const f = phaseOf(r, name);
    if (!f) return undefined;
    if (f.invalid) return 'invalid';
    return get(f, f.account);
  };

function row(report: Report, key: string, figure: string, unit: string, pick: Pick): FigureRow {
  const rounds = report.rounds ?? [];
  const by = (label: string) => rounds.filter((r) => r.label === label);
  const invalid: Record<string, number> = {};
  const values = (label: string) =>
    by(label).map((r) => {
      const v = pick(r);
      if (v === 'invalid') {
        invalid[label] = (invalid[label] ?? 0) + 1;
        return undefined;
      }
      return v;
    });
  const sb = values('switchboard');
  const st = values('stock');
  const ratios = by('switchboard').map((r, i) => {
    const a = sb[i];
    const stockRound = by('stock').findIndex((x) => x.round === r.round);
    const b = stockRound >= 0 ? st[stockRound] : undefined;
    return a !== undefined && b ? a / b : undefined;
  });
  const ratio = spread(ratios);
  return { key, figure, unit, switchboard: spread(sb), stock: spread(st), ratio, verdict: verdictOf(ratio), invalid };
}

/** The fan-out phases every round metered (the warm-up is not kept), in profile order. */
export function meteredPhases(report: Report): string[] {
  const names: string[] = [];
  for (const r of report.rounds ?? []) for (const f of r.fanout) if (!names.includes(f.phase)) names.push(f.phase);
  return names;
}

/** What the target's stack and its generators took of the whole machine over a phase, % (other work on it left out). */
export function ownSharePct(a: PhaseAccount, cores: number): number | undefined {
  if (!a.wallS || !cores) return undefined;
  return Math.round(((a.serverUs + a.groups.other + a.generators.cpuUs) / (a.wallS * 1e6 * cores)) * 1000) / 10;
}

export function summaryRows(report: Report): FigureRow[] {
  const cores = Number((report.machine as { cpus?: number }).cpus) || 0;
  const rows: FigureRow[] = [];
  for (const name of meteredPhases(report)) {
    rows.push(
      row(report, `cpu:${name}`, `${name}: server-side CPU per delivered message`, 'µs', fromPhase(name, (_f, a) => (a ? perMessage(a, 'delivered')?.server : undefined))),
      row(report, `cpu-sent:${name}`, `${name}: server-side CPU per sent message`, 'µs', fromPhase(name, (_f, a) => (a ? perMessage(a, 'sent')?.server : undefined))),
      row(report, `p50:${name}`, `${name}: delivery p50`, 'ms', fromPhase(name, (f) => f.delivery?.p50)),
      row(report, `p99:${name}`, `${name}: delivery p99`, 'ms', fromPhase(name, (f) => f.delivery?.p99)),
      row(report, `busy:${name}`, `${name}: machine busy`, '%', fromPhase(name, (_f, a) => a?.machineBusyPct)),
      row(report, `own:${name}`, `${name}: the target's own share of the machine (stack + generators)`, '%', fromPhase(name, (_f, a) => (a ? ownSharePct(a, cores) : undefined))),
    );
  }
  rows.push(
    row(report, 'search', 'rate search: best rate (p99 < limit, nothing lost)', 'msg/s', (r) => (r.search ? (r.search.best ?? 0) : undefined)),
    row(report, 'chat-send', 'chat mix: send ack p99 (from schedule)', 'ms', (r) => r.chat?.latency.send?.p99),
    row(report, 'chat-cpu', 'chat mix: server-side CPU per sent message', 'µs', (r) => {
      const a = r.chat?.account;
      if (a?.invalid) return 'invalid';
      return a ? perMessage(a, 'sent')?.server : undefined;
    }),
    row(report, 'chat-history', 'chat mix: history p99', 'ms', (r) => (r.chat?.notApplicable.includes('history') ? undefined : r.chat?.latency.history?.p99)),
    row(report, 'storm', 'connect storm: connect + auth + join p99', 'ms', (r) => r.storm?.connectJoin?.p99),
    row(report, 'memory', 'memory: replica RSS per connection', 'KB', (r) => r.memory?.kbPerConnection),
    // What the fan-out population leaving at once costs: how long until the stack is quiet again.
    row(report, 'settle', 'stack quiet again after the fan-out population left', 's', (r) => r.settled?.chat?.waitedS),
    row(report, 'population-cpu', 'population: server-side CPU per connect', 'µs', (r) => {
      const a = r.population?.account;
      if (a?.invalid) return 'invalid';
      return a && a.connects ? Math.round((a.serverUs / a.connects) * 10) / 10 : undefined;
    }),
  );
  return rows.filter((x) => x.switchboard || x.stock);
}

/** What is wrong with the CPU accounting of a run (the smoke profile fails on any). */
export function accountingProblems(report: Report): string[] {
  const profile = report.settings as Partial<Profile>;
  const problems: string[] = [];
  for (const r of report.rounds ?? []) {
    const where = `${r.label}${(report.rounds ?? []).some((x) => x.round > 1) ? ` round ${r.round}` : ''}`;
    for (const f of r.fanout) {
      const a = f.account;
      if (!a) {
        problems.push(`${where} ${f.phase}: no CPU accounting`);
        continue;
      }
      for (const g of a.missing) problems.push(`${where} ${f.phase}: no CPU figure for ${g}`);
      if (!(a.generators.cpuUs > 0) || !a.generators.workers.length) problems.push(`${where} ${f.phase}: no generator CPU figure`);
      const per = perMessage(a, 'delivered');
      if (!f.invalid && !(per && Number.isFinite(per.server) && per.server > 0)) problems.push(`${where} ${f.phase}: server-side CPU per delivery is ${per?.server ?? 'missing'}, not a positive number`);
    }
    if (profile.mustBeInvalid) {
      const lagging = phaseOf(r, profile.mustBeInvalid);
      if (!lagging) problems.push(`${where}: the phase ${profile.mustBeInvalid} (generators made to lag) did not run`);
      else if (!lagging.invalid) problems.push(`${where} ${profile.mustBeInvalid}: the generators were made to lag (delay p99 ${lagging.account?.generators.lagP99Ms ?? '?'} ms) but the phase was not marked invalid`);
    }
  }
  if (profile.mustBeInvalid && summaryRows(report).some((x) => x.key.endsWith(`:${profile.mustBeInvalid}`))) problems.push(`${profile.mustBeInvalid} is counted in the summary`);
  return problems;
}
