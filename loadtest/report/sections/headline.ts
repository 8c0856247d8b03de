// The headline: every repeated figure as median (range) per target and the
// per-round ratio Switchboard / stock, CPU per delivered message first; then
// the targets the stack is judged by, each met or missed.
import type { Profile } from '../../profiles';
import { summaryRows, type FigureRow, type Spread } from '../summary';
import { markdownTable, ms, type Cell } from '../table';
import type { Report, TargetReport } from '../types';

const num = (v: number) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/** `12.3 (10.1 to 14.2)`, one value alone when there was one round, `-` when none. */
export function spreadCell(s: Spread | undefined, suffix = ''): string {
  if (!s) return '-';
  return s.n === 1 || s.min === s.max ? `${num(s.median)}${suffix}` : `${num(s.median)}${suffix} (${num(s.min)} to ${num(s.max)})`;
}

function invalidNote(row: FigureRow): string {
  const parts = Object.entries(row.invalid).map(([label, n]) => `${label}: ${n} invalid`);
  return parts.length ? ` [${parts.join(', ')}]` : '';
}

function summaryTable(rows: FigureRow[]): string[] {
  return markdownTable(
    ['figure', 'Switchboard', 'stock', 'Switchboard / stock', ''],
    rows.map((r) => [`${r.figure} (${r.unit})${invalidNote(r)}`, spreadCell(r.switchboard), spreadCell(r.stock), spreadCell(r.ratio, 'x'), r.verdict ?? '-']),
  );
}

const metOrMissed = (met: boolean) => (met ? 'met' : '**missed**');

function ratioGoal(goal: string, row: FigureRow | undefined, bound: number, unit: string): Cell[] {
  if (!row?.ratio) return [goal, row ? `Switchboard ${spreadCell(row.switchboard)} ${unit}, stock ${spreadCell(row.stock)} ${unit}` : 'not measured', 'not measured'];
  const nmd = row.verdict === 'no measurable difference' ? '; no measurable difference' : '';
  return [goal, `${spreadCell(row.ratio, 'x')} (Switchboard ${spreadCell(row.switchboard)} ${unit}, stock ${spreadCell(row.stock)} ${unit}${nmd})`, metOrMissed(row.ratio.median <= bound)];
}

function lossGoal(report: Report): Cell[] {
  const goal = 'delivery ratio 1.0000 and nothing lost, every phase of every round';
  const phases = (report.rounds ?? []).flatMap((r) => [
    ...r.fanout.map((f) => ({ where: `${r.label} r${r.round} ${f.phase}`, ratio: f.deliveryRatio, lost: f.loss.lost })),
    ...(r.search?.trials ?? []).map((t) => ({ where: `${r.label} r${r.round} search-${t.msgPerSec}`, ratio: t.deliveryRatio, lost: t.lost })),
  ]);
  if (!phases.length) return [goal, 'no fan-out phase ran', 'not measured'];
  const bad = phases.filter((p) => p.ratio < 1 || p.lost > 0);
  return [goal, bad.length ? bad.map((p) => `${p.where}: ratio ${p.ratio.toFixed(4)}, lost ${p.lost}`).join('; ') : `${phases.length} phases, all 1.0000, 0 lost`, metOrMissed(!bad.length)];
}

function stormGoal(rows: Map<string, FigureRow>, report: Report): Cell[] {
  const goal = 'connect + auth + join p99 at 500/s <= 1.5x stock';
  const rate = (report.settings as Partial<Profile>).storm?.rate;
  if (rate !== 500) {
    const r = ratioGoal(goal, rows.get('storm'), 1.5, 'ms');
    return [goal, `${r[1]} at ${rate}/s`, 'not measured at 500/s in this profile'];
  }
  return ratioGoal(goal, rows.get('storm'), 1.5, 'ms');
}

function unsaturatedGoal(rows: Map<string, FigureRow>, profile: Partial<Profile>): Cell[] {
  const name = profile.unsaturated;
  const goal = `fan-out delivery p99 at the unsaturated rate${name ? ` (${name})` : ''} <= 1.25x stock`;
  if (!name) return [goal, 'no unsaturated phase in this profile', 'not measured'];
  const cell = ratioGoal(goal, rows.get(`p99:${name}`), 1.25, 'ms');
  // Stock's own share (its stack and generators), not the machine's: other work on a shared machine is not the rate's doing.
  const own = rows.get(`own:${name}`)?.stock;
  const busy = rows.get(`busy:${name}`)?.stock;
  if (own) cell[1] = `${cell[1]}; stock's stack and generators took ${spreadCell(own)} % of the machine${own.median > 60 ? ' (above 60 %: not an unsaturated rate)' : ''}${busy ? `, the machine was ${spreadCell(busy)} % busy in all` : ''}`;
  return cell;
}

function capacityGoal(rows: Map<string, FigureRow>): Cell[] {
  const goal = 'rate search (p99 < limit, nothing lost): Switchboard best rate >= 0.8x stock';
  const r = rows.get('search');
  if (!r?.ratio) return [goal, r ? `Switchboard ${spreadCell(r.switchboard)}, stock ${spreadCell(r.stock)} msg/s` : 'not run', r ? '**missed**' : 'not measured'];
  return [goal, `${spreadCell(r.ratio, 'x')} (Switchboard ${spreadCell(r.switchboard)}, stock ${spreadCell(r.stock)} msg/s)`, metOrMissed(r.ratio.median >= 0.8)];
}

function chatGoals(rows: Map<string, FigureRow>): Cell[][] {
  const send = rows.get('chat-send');
  const history = rows.get('chat-history');
  if (!send && !history) return [['chat mix send ack p99 <= 3x stock; history p99 < 100 ms', 'chat mix not run', 'not measured']];
  const h = history?.switchboard;
  return [ratioGoal('chat mix send ack p99 (from schedule) <= 3x stock', send, 3, 'ms'), ['chat mix history p99 < 100 ms', h ? `${spreadCell(h)} ms` : 'not measured', h ? metOrMissed(h.median < 100) : 'not measured']];
}

function memoryGoal(rows: Map<string, FigureRow>): Cell[] {
  const r = rows.get('memory');
  const goal = 'replica RSS per 1,000 connections <= 1.25x stock';
  if (!r?.ratio) return [goal, r ? `Switchboard ${spreadCell(r.switchboard)} KB, stock ${spreadCell(r.stock)} KB per connection` : 'not measured', 'not measured'];
  return [goal, `${spreadCell(r.ratio, 'x')} (KB per connection: Switchboard ${spreadCell(r.switchboard)}, stock ${spreadCell(r.stock)})`, metOrMissed(r.ratio.median <= 1.25)];
}

function onceGoals(switchboard: TargetReport): Cell[][] {
  const rows: Cell[][] = [];
  const presence = switchboard.presence;
  if (presence) rows.push(['presence propagation p99 < 20 ms', presence.online.count ? `${ms(presence.online.p99)} ms` : `no measurement (${presence.connected} of ${presence.churners} churners connected)`, presence.online.count ? metOrMissed(presence.online.p99 < 20) : '**not measured**']);
  const capacity = switchboard.capacity;
  if (capacity) rows.push(['15,000 sockets held across 3 replicas, presence running', `${capacity.maxHeld} held (steps ${capacity.steps.map((step) => step.target).join(', ')})`, metOrMissed(capacity.maxHeld >= 15000)]);
  if (switchboard.soak) rows.push(['no leak in the soak', switchboard.soak.leaked ? 'growth over the rule' : 'within the rule', metOrMissed(!switchboard.soak.leaked)]);
  return rows;
}

export function targetRows(report: Report): Cell[][] {
  const profile = report.settings as Partial<Profile>;
  const rows = new Map(summaryRows(report).map((r) => [r.key, r]));
  const cpuPhases = (profile.fanout ?? []).map((f) => f.phase).filter((p) => p !== profile.mustBeInvalid);
  const out: Cell[][] = cpuPhases.map((p) => ratioGoal(`server-side CPU per delivered message at ${p} <= 1.25x stock (replicas + Redis + database + nginx)`, rows.get(`cpu:${p}`), 1.25, 'µs'));
  out.push(capacityGoal(rows), unsaturatedGoal(rows, profile), ...chatGoals(rows), stormGoal(rows, report), memoryGoal(rows), lossGoal(report));
  if (report.targets.switchboard) out.push(...onceGoals(report.targets.switchboard));
  return out;
}

function toolsTable(switchboard: TargetReport, stock: TargetReport): string[] {
  const row = (figure: string, a?: number, b?: number): Cell[] => [figure, ms(a), ms(b), a !== undefined && b ? `${(a / b).toFixed(2)}x` : '-'];
  const rows = [row('k6 delivery p99 (ms)', switchboard.k6?.delivery?.p99, stock.k6?.delivery?.p99), row('Artillery delivery p99 (ms)', switchboard.artillery?.delivery?.p99, stock.artillery?.delivery?.p99)];
  return switchboard.k6 || switchboard.artillery ? ['Once, in the first round:', '', ...markdownTable(['figure', 'Switchboard', 'stock', 'Switchboard / stock'], rows), ''] : [];
}

/** Only when both targets ran: every figure here is Switchboard against stock. */
export function headlineSection(report: Report): string[] {
  const { switchboard, stock } = report.targets;
  if (!switchboard || !stock) return [];
  const profile = report.settings as Partial<Profile>;
  const rounds = Math.max(0, ...(report.rounds ?? []).map((r) => r.round));
  const rows = summaryRows(report);
  const order = (r: FigureRow) => (r.key.startsWith('cpu:') ? 0 : r.key.startsWith('cpu-sent:') ? 1 : r.key.startsWith('p99:') ? 2 : r.key.startsWith('p50:') ? 3 : r.key.startsWith('busy:') || r.key.startsWith('own:') ? 4 : 5);
  return [
    '## Headline: Switchboard / stock, same run',
    '',
    `${rounds} round${rounds === 1 ? '' : 's'}, the targets in alternation, each on a fresh stack started right before it was measured. ` +
      'Median (range) over the rounds; Switchboard / stock is the median (range) of each round\'s own ratio, and a ratio whose range reaches across 1.0 is "no measurable difference". ' +
      `Server-side CPU is replicas + Redis + database + nginx, from their cgroups. Rounds whose generators ran late (event-loop delay p99 over ${profile.generatorLagP99LimitMs} ms) are left out ("invalid").`,
    '',
    ...summaryTable([...rows].sort((a, b) => order(a) - order(b))),
    '',
    ...toolsTable(switchboard, stock),
    '### Targets',
    '',
    ...markdownTable(['target', 'measured (median, range)', ''], targetRows(report)),
    '',
  ];
}
