// The soak: per target its windows and verdict, per replica its memory trend
// against the leak rule.
import type { SoakResult } from '../../harness/soak';
import type { ReplicaTrend } from '../../lib/leak';
import { decimals, markdownTable, ms, type Cell } from '../table';
import type { Report, TargetReport } from '../types';

function verdictRow(target: TargetReport, soak: SoakResult): Cell[] {
  const windows = soak.windows;
  const connected = `${soak.connected} of ${soak.sockets}${soak.connectFailed ? ` (**${soak.connectFailed} failed**)` : ''}`;
  const worstRatio = Math.min(...windows.map((window) => window.deliveryRatio)).toFixed(4);
  const lost = windows.reduce((sum, window) => sum + window.lost, 0);
  const p99FirstAndLast = `${ms(windows[0]?.p99)} / ${ms(windows[windows.length - 1]?.p99)}`;
  return [target.label, connected, windows.length, worstRatio, lost, p99FirstAndLast, soak.leaked ? '**LEAK**' : 'no leak'];
}

function replicaRows(target: TargetReport): Cell[][] {
  return Object.entries(target.soak?.replicas ?? {}).map(([replica, trend]) => [
    target.label,
    replica,
    trend.samples,
    heapSlope(trend),
    decimals(trend.rssMbPerMin, 2),
    `${decimals(trend.heapGrowthMb, 1)} / ${decimals(trend.rssGrowthMb, 1)}`,
    `${ms(trend.lagP99MeanMs)} / ${ms(trend.lagP99MaxMs)}`,
    trend.leak ? `**leak**: ${trend.why}` : '',
  ]);
}

/** The heap slope with what it was drawn through: the heap after each full GC (and how many there were), or used heap. */
function heapSlope(trend: ReplicaTrend): string {
  const slope = decimals(trend.heapMbPerMin, 2);
  if (trend.heapMeasure === 'after full GC') return `${slope} (${trend.fullGcs ?? 0} full GCs)`;
  return trend.heapMeasure === 'used' ? `${slope} (used heap)` : slope;
}

function meanSlope(soak: SoakResult | undefined, slope: 'rssMbPerMin' | 'heapMbPerMin'): number | undefined {
  const slopes = Object.values(soak?.replicas ?? {})
    .map((trend) => trend[slope])
    .filter((value): value is number => value !== undefined);
  return slopes.length ? slopes.reduce((sum, value) => sum + value, 0) / slopes.length : undefined;
}

export function soakSection(report: Report): string[] {
  const targets = Object.values(report.targets).filter((target) => target.soak);
  if (!targets.length) return [];
  const spec = targets[0].soak!;
  const { switchboard, stock } = report.targets;
  // Slopes can be negative or near zero: a ratio of them means nothing, so both are given.
  const slopes =
    `Mean steady-part slope over replicas, Switchboard vs stock: ` +
    `RSS ${decimals(meanSlope(switchboard?.soak, 'rssMbPerMin'), 2)} vs ${decimals(meanSlope(stock?.soak, 'rssMbPerMin'), 2)} MB/min, ` +
    `heap ${decimals(meanSlope(switchboard?.soak, 'heapMbPerMin'), 2)} vs ${decimals(meanSlope(stock?.soak, 'heapMbPerMin'), 2)} MB/min.`;
  return [
    '## Soak',
    '',
    `${spec.sockets} sockets in ${spec.rooms} rooms, ${spec.msgPerSec} msg/s for ${spec.durationS} s in windows of ${spec.windowS} s. **Leak rule:** ${spec.rule}.`,
    '',
    ...markdownTable(
      ['target', 'connected', 'windows', 'worst ratio', 'lost', 'p99 first / last window (ms)', 'verdict'],
      targets.map((target) => verdictRow(target, target.soak!)),
    ),
    '',
    ...markdownTable(
      ['target', 'replica', 'samples', 'heap after full GC, MB/min', 'RSS MB/min', 'growth heap / RSS (MB)', 'lag p99 mean / max (ms)', ''],
      Object.values(report.targets).flatMap(replicaRows),
    ),
    '',
    slopes,
    '',
  ];
}
