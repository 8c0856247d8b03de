// Where Switchboard's send time goes: the replicas' own histograms over each
// fan-out phase (summed over replicas; mean and interpolated p99), beside the
// delivery p99 the generators saw, so a reader sees how much of it is the
// database stand-in. A histogram the service does not export says so.
import { SERVER_TIMINGS, type Timing } from '../../lib/accounting';
import { markdownTable, ms, type Cell } from '../table';
import type { Report } from '../types';

const cell = (t: Timing | undefined) => (t === undefined ? 'not exported' : t.count ? `${ms(t.meanMs)} / ${ms(t.p99Ms)} (${t.count})` : '0 recorded');

export function attributionSection(report: Report): string[] {
  const rows: Cell[][] = [];
  for (const r of report.rounds ?? []) {
    if (r.label !== 'switchboard') continue;
    for (const f of r.fanout) {
      if (!f.account) continue;
      rows.push([r.round, f.phase, ms(f.delivery?.p99), ...SERVER_TIMINGS.map((t) => cell(f.account!.server[t.key]))]);
    }
    // The chat mix beside them: its send ack p99 (from schedule) in place of the delivery p99.
    if (r.chat?.account) rows.push([r.round, 'chat mix (send ack p99)', ms(r.chat.latency.send?.p99), ...SERVER_TIMINGS.map((t) => cell(r.chat!.account!.server[t.key]))]);
  }
  if (!rows.length) return [];
  return [
    "## Where Switchboard's send time goes",
    '',
    "From the replicas' own histograms over each phase (mean / p99 in ms, and how many were recorded), beside the delivery p99 the generators measured. " +
      SERVER_TIMINGS.map((t) => `${t.key}: ${t.what} (\`${t.metric}\`${t.match ? ` ${t.match}` : ''})`).join('; ') +
      '. p99 is interpolated within the histogram\'s buckets.',
    '',
    ...markdownTable(['round', 'phase', 'delivery p99 (ms)', ...SERVER_TIMINGS.map((t) => t.key)], rows),
    '',
  ];
}
