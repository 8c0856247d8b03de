// CPU per message: for every metered phase of every round, what the target's
// containers (by group), the generators and the whole machine spent, per
// delivered and per sent message; the generators' event-loop delay and
// whether the phase counts.
import { perMessage, type PhaseAccount } from '../../lib/accounting';
import { escapeCell, markdownTable, type Cell } from '../table';
import type { Report } from '../types';

const us = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));

function accountRow(label: string, round: number, phase: string, rate: string, a: PhaseAccount | undefined, invalid?: string): Cell[] {
  if (!a) return [label, round, phase, rate, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', 'not metered'];
  const d = perMessage(a, 'delivered');
  const s = perMessage(a, 'sent');
  const perConnect = a.connects ? `${(a.serverUs / a.connects).toFixed(1)} per connect` : undefined;
  return [
    label,
    round,
    phase,
    rate,
    a.connects !== undefined ? `${a.connects} connects` : a.delivered,
    perConnect ?? us(d?.server),
    us(d?.replicas),
    us(d?.redis),
    us(d?.database),
    us(d?.nginx),
    us(d?.generators),
    us(s?.server),
    a.machineBusyPct.toFixed(1),
    a.outsideCores === undefined ? '-' : a.outsideCores.toFixed(2),
    `${a.generators.lagP99Ms} / ${a.generators.lagMaxMs}`,
    (invalid ?? a.invalid) ? `**invalid:** ${escapeCell((invalid ?? a.invalid)!)}` : a.missing.length ? `no CPU figure for ${a.missing.join(', ')}` : 'counts',
  ];
}

export function cpuSection(report: Report): string[] {
  const rows: Cell[][] = [];
  for (const r of report.rounds ?? []) {
    if (r.population?.account) rows.push(accountRow(r.label, r.round, 'population', '-', r.population.account));
    for (const f of r.fanout) rows.push(accountRow(r.label, r.round, f.phase, String(f.msgPerSec), f.account, f.invalid));
    if (r.chat?.account) rows.push(accountRow(r.label, r.round, 'chat mix', '-', r.chat.account));
  }
  if (!rows.length) return [];
  return [
    '## CPU per message',
    '',
    'CPU time from each container\'s cgroup (and each generator process\'s own `process.cpuUsage()`) between the start of a phase and the end of its settle, ' +
      'divided by the messages delivered (or sent) in it; population rows are per connect. µs per delivered message unless said otherwise; ' +
      'server = replicas + Redis + database + nginx. Machine busy: every process on the machine over the phase\'s schedule, % of all cores; outside: what the machine spent beyond the target and the generators over the phase (other processes on a shared machine, the Docker daemon), in cores. ' +
      'Generator delay: the worst worker\'s event-loop delay p99 / max.',
    '',
    ...markdownTable(['target', 'round', 'phase', 'msg/s', 'delivered', 'server', 'replicas', 'Redis', 'database', 'nginx', 'generators', 'server per sent', 'machine busy (%)', 'outside (cores)', 'generator delay p99 / max (ms)', ''], rows),
    '',
  ];
}
