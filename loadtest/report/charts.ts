// The charts: vega-lite specs rendered to SVG by vega in Node, and to PNG by
// resvg. Each chart is drawn only when the run has data for it.
import fs from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import type { TopLevelSpec } from 'vega-lite';
import type { LatencySummary } from '../lib/hist';
import type { Report, TargetReport } from './types';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const PERCENTILES = [
  ['p50', 'p50'],
  ['p95', 'p95'],
  ['p99', 'p99'],
  ['p999', 'p99.9'],
] as const;
const PERCENTILE_ORDER = PERCENTILES.map(([, label]) => label);

interface Chart {
  /** file name without extension */
  name: string;
  spec: TopLevelSpec;
}

/** Writes `<file>.svg` and `<file>.png`; returns their names. */
async function render(spec: TopLevelSpec, file: string): Promise<string[]> {
  // vega and vega-lite are ES modules with top-level await: imported, not required.
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  fs.writeFileSync(`${file}.svg`, svg);
  const png = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  fs.writeFileSync(`${file}.png`, png);
  return [`${path.basename(file)}.svg`, `${path.basename(file)}.png`];
}

/** 1. Latency percentiles per scenario and target. */
function latencyPercentiles(report: Report, targets: TargetReport[]): Chart | undefined {
  const bars: { scenario: string; target: string; percentile: string; ms: number }[] = [];
  const add = (scenario: string, target: string, latency?: Partial<LatencySummary>) => {
    if (!latency || !latency.count) return;
    for (const [stat, percentile] of PERCENTILES) bars.push({ scenario, target, percentile, ms: latency[stat] ?? 0 });
  };
  for (const target of targets) {
    add('connect+join (harness)', target.label, target.storm?.latency.connectJoin);
    for (const phase of target.fanout) add(`${phase.phase} delivery (harness)`, target.label, phase.latency.delivery);
    if (target.presence) add('presence online (harness)', target.label, target.presence.online);
    add('delivery (k6)', target.label, target.k6?.delivery);
    add('delivery (artillery)', target.label, target.artillery?.delivery);
  }
  if (!bars.length) return undefined;
  return {
    name: 'latency-percentiles',
    spec: {
      $schema: SCHEMA,
      title: `Latency percentiles per scenario (${report.profile})`,
      data: { values: bars },
      mark: 'bar',
      encoding: {
        row: { field: 'scenario', type: 'nominal', header: { labelAngle: 0, labelAlign: 'left' } },
        y: { field: 'target', type: 'nominal', title: null },
        yOffset: { field: 'percentile', sort: PERCENTILE_ORDER },
        x: { field: 'ms', type: 'quantitative', title: 'ms' },
        color: { field: 'percentile', sort: PERCENTILE_ORDER },
      },
      width: 500,
    } as TopLevelSpec,
  };
}

/** 2. Delivery latency over time, per second of the send schedule. */
function latencyOverTime(targets: TargetReport[]): Chart | undefined {
  const points: { t: number; target: string; phase: string; stat: string; ms: number }[] = [];
  for (const target of targets)
    for (const phase of target.fanout) {
      const firstSecond = phase.series[0]?.sec ?? 0;
      for (const second of phase.series) {
        points.push({ t: second.sec - firstSecond, target: target.label, phase: phase.phase, stat: 'p50', ms: second.p50 });
        points.push({ t: second.sec - firstSecond, target: target.label, phase: phase.phase, stat: 'p99', ms: second.p99 });
      }
    }
  if (!points.length) return undefined;
  return {
    name: 'latency-over-time',
    spec: {
      $schema: SCHEMA,
      title: 'Delivery latency over time (per second of the schedule)',
      data: { values: points },
      mark: { type: 'line', point: false },
      encoding: {
        column: { field: 'phase', type: 'nominal' },
        x: { field: 't', type: 'quantitative', title: 's' },
        y: { field: 'ms', type: 'quantitative', title: 'ms', scale: { type: 'symlog' } },
        color: { field: 'target', type: 'nominal' },
        strokeDash: { field: 'stat', type: 'nominal' },
      },
      width: 360,
      height: 220,
    } as TopLevelSpec,
  };
}

/** 3. Sockets held, and per replica RSS, event-loop lag and CPU, over the harness run. */
function resourcesOverTime(targets: TargetReport[]): Chart | undefined {
  const points: { s: number; target: string; series: string; value: number; panel: string }[] = [];
  for (const target of targets) {
    const start = Math.min(...(target.samples ?? []).map((sample) => sample.t), ...(target.timeline ?? []).map((tick) => tick.t));
    const seconds = (time: number) => (time - start) / 1000;
    for (const tick of target.timeline ?? []) points.push({ s: seconds(tick.t), target: target.label, series: `${target.label} sockets`, value: tick.sockets, panel: 'sockets held' });
    const replicaPoint = (sample: { t: number; replica: string }, value: number, panel: string) =>
      points.push({ s: seconds(sample.t), target: target.label, series: `${target.label} ${sample.replica}`, value, panel });
    // One panel after the other (the order of the points is the order of the legend).
    for (const sample of target.samples ?? []) replicaPoint(sample, sample.rssMb, 'replica RSS (MB)');
    for (const sample of target.samples ?? []) if (sample.lagMs !== undefined) replicaPoint(sample, sample.lagMs, 'event-loop lag p99 (ms)');
    for (const sample of target.samples ?? []) if (sample.cpuPct !== undefined) replicaPoint(sample, sample.cpuPct, 'replica CPU (%)');
  }
  if (!points.length) return undefined;
  return {
    name: 'resources-over-time',
    spec: {
      $schema: SCHEMA,
      title: 'Sockets, memory, CPU and event-loop lag over the harness run',
      data: { values: points },
      facet: { row: { field: 'panel', type: 'nominal', title: null }, column: { field: 'target', type: 'nominal', title: null } },
      spec: {
        width: 360,
        height: 150,
        mark: 'line',
        encoding: {
          x: { field: 's', type: 'quantitative', title: 's since start' },
          y: { field: 'value', type: 'quantitative', title: null },
          color: { field: 'series', type: 'nominal', title: 'series' },
        },
      },
      resolve: { scale: { y: 'independent' } },
    } as TopLevelSpec,
  };
}

/** 4. Variants: delivery p50 and p99 per variant, under the same load. */
function variants(report: Report): Chart | undefined {
  const measured = (report.variants ?? []).filter((variant) => variant.p99 !== undefined);
  if (!measured.length) return undefined;
  return {
    name: 'variants',
    spec: {
      $schema: SCHEMA,
      title: `Variants: delivery latency under the same load (${report.profile})`,
      data: {
        values: measured.flatMap((variant) => [
          { variant: variant.label, stat: 'p50', ms: variant.p50 },
          { variant: variant.label, stat: 'p99', ms: variant.p99 },
        ]),
      },
      mark: 'bar',
      encoding: { y: { field: 'variant', type: 'nominal', title: null, sort: null }, yOffset: { field: 'stat' }, x: { field: 'ms', type: 'quantitative', title: 'ms' }, color: { field: 'stat' } },
      width: 500,
    } as TopLevelSpec,
  };
}

/** 5. Chat mix: p99 per action and target. */
function chatMix(targets: TargetReport[]): Chart | undefined {
  const bars = targets.flatMap((target) => Object.entries(target.chat?.latency ?? {}).map(([action, latency]) => ({ action, target: target.label, p50: latency.p50, p99: latency.p99 })));
  if (!bars.length) return undefined;
  return {
    name: 'chat-mix',
    spec: {
      $schema: SCHEMA,
      title: 'Chat mix: p99 per action',
      data: { values: bars },
      mark: 'bar',
      encoding: { y: { field: 'action', type: 'nominal', title: null }, yOffset: { field: 'target' }, x: { field: 'p99', type: 'quantitative', title: 'p99 (ms)' }, color: { field: 'target' } },
      width: 500,
    } as TopLevelSpec,
  };
}

/** 6. Soak: RSS, heap (used, and left after each full GC) and event-loop lag per replica over time. */
function soak(targets: TargetReport[]): Chart | undefined {
  const points = targets.flatMap((target) => {
    const samples = target.soak?.samples ?? [];
    const start = samples[0]?.t ?? 0;
    return samples.flatMap((sample) => {
      const point = (panel: string, value: number) => ({ s: (sample.t - start) / 1000, series: `${target.label} ${sample.replica}`, panel, value });
      return [
        point('RSS (MB)', sample.rssMb),
        ...(sample.heapMb !== undefined ? [point('heap used (MB)', sample.heapMb)] : []),
        // The live set the leak rule reads: a step at each full GC.
        ...(sample.heapLiveMb !== undefined ? [point('heap after full GC (MB)', sample.heapLiveMb)] : []),
        ...(sample.lagMs !== undefined ? [point('event-loop lag p99 (ms)', sample.lagMs)] : []),
      ];
    });
  });
  if (!points.length) return undefined;
  return {
    name: 'soak',
    spec: {
      $schema: SCHEMA,
      title: 'Soak: memory and event-loop lag per replica',
      data: { values: points },
      facet: { row: { field: 'panel', type: 'nominal', title: null } },
      spec: {
        width: 600,
        height: 150,
        mark: 'line',
        encoding: { x: { field: 's', type: 'quantitative', title: 's since the soak began' }, y: { field: 'value', type: 'quantitative', title: null }, color: { field: 'series', type: 'nominal' } },
      },
      resolve: { scale: { y: 'independent' } },
    } as TopLevelSpec,
  };
}

/** Renders every chart the run has data for into its folder; returns the file names (SVG and PNG). */
export async function renderCharts(report: Report): Promise<string[]> {
  const targets = Object.values(report.targets);
  const charts = [latencyPercentiles(report, targets), latencyOverTime(targets), resourcesOverTime(targets), variants(report), chatMix(targets), soak(targets)];
  const files: string[] = [];
  for (const chart of charts) if (chart) files.push(...(await render(chart.spec, path.join(report.outDir, chart.name))));
  return files;
}
