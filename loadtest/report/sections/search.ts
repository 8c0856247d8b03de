// The rate search of every round (profiles' `search`): each trial's p99 and
// verdict, and the best rate per target and round.
import { escapeCell, markdownTable, ms, type Cell } from '../table';
import type { Report } from '../types';

export function searchSection(report: Report): string[] {
  const rows: Cell[][] = [];
  for (const r of report.rounds ?? []) {
    const s = r.search;
    if (!s) continue;
    const trials = s.trials.map((t) => `${t.msgPerSec}: ${ms(t.p99)} ms${t.lost ? `, lost ${t.lost}` : ''} ${t.invalid ? 'invalid' : t.pass ? 'pass' : 'fail'}`).join('; ');
    rows.push([r.label, r.round, `${s.sockets} / ${s.rooms}`, escapeCell(trials), `${s.best ?? 'none'}${s.stoppedInvalid ? ' (stopped at an invalid trial: a lower bound)' : ''}`]);
  }
  if (!rows.length) return [];
  const limit = report.rounds?.find((r) => r.search)?.search?.p99LimitMs;
  return [
    '## Rate search',
    '',
    `Fan-out over the population at rising rates until one misses p99 < ${limit} ms or loses anything, then halvings between the last pass and the first failure; trials as msg/s: delivery p99.`,
    '',
    ...markdownTable(['target', 'round', 'sockets / rooms', 'trials', 'best msg/s'], rows),
    '',
  ];
}
