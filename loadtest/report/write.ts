// report.json, report.md and the charts (vega-lite specs rendered to SVG by
// vega in Node, and to PNG by resvg).
import fs from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import type { TopLevelSpec } from 'vega-lite';
import type { FanoutResult, PresenceResult, StormResult } from '../harness/scenarios';
import type { LatencySummary } from '../lib/hist';
import type { ContainerSample, Sample, Sampler } from '../lib/sampler';
import type { ToolResult } from '../k6/run';

export interface TargetReport {
  label: string;
  project: string;
  url: string;
  replicas: number;
  env: Record<string, string>;
  storm?: StormResult;
  population?: StormResult;
  fanout: FanoutResult[];
  presence?: PresenceResult;
  k6?: ToolResult;
  artillery?: ToolResult;
  samples?: Sample[];
  containers?: ContainerSample[];
  replicaSummary?: ReturnType<Sampler['summary']>;
  errors?: string[];
  timeline?: { t: number; label: string; sockets: number; deliveriesPerSec: number; sendsPerSec: number; errors: number }[];
}

export interface Report {
  profile: string;
  startedAt: string;
  finishedAt?: string;
  machine: Record<string, unknown>;
  machineAfter?: Record<string, unknown>;
  settings: unknown;
  targets: Record<string, TargetReport>;
  failures: string[];
  outDir: string;
  headline?: Record<string, unknown>;
  path?: string;
  charts?: string[];
}

const f = (n: number | undefined, d = 1) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
const ratio = (a?: number, b?: number) => (a === undefined || !b ? '-' : `${(a / b).toFixed(2)}x`);

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

async function charts(r: Report): Promise<string[]> {
  const out: string[] = [];
  const targets = Object.values(r.targets);
  // 1. latency percentiles per scenario and target
  const pct: { scenario: string; target: string; percentile: string; ms: number }[] = [];
  const add = (scenario: string, target: string, s?: Partial<LatencySummary>) => {
    if (!s || !s.count) return;
    for (const [k, label] of [['p50', 'p50'], ['p95', 'p95'], ['p99', 'p99'], ['p999', 'p99.9']] as const) pct.push({ scenario, target, percentile: label, ms: s[k] ?? 0 });
  };
  for (const t of targets) {
    add('connect+join (harness)', t.label, t.storm?.latency.connectJoin);
    for (const fo of t.fanout) add(`${fo.phase} delivery (harness)`, t.label, fo.latency.delivery);
    if (t.presence) add('presence online (harness)', t.label, t.presence.online);
    add('delivery (k6)', t.label, t.k6?.delivery);
    add('delivery (artillery)', t.label, t.artillery?.delivery);
  }
  if (pct.length)
    out.push(
      ...(await render(
        {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: `Latency percentiles per scenario (${r.profile})`,
          data: { values: pct },
          mark: 'bar',
          encoding: {
            row: { field: 'scenario', type: 'nominal', header: { labelAngle: 0, labelAlign: 'left' } },
            y: { field: 'target', type: 'nominal', title: null },
            yOffset: { field: 'percentile', sort: ['p50', 'p95', 'p99', 'p99.9'] },
            x: { field: 'ms', type: 'quantitative', title: 'ms' },
            color: { field: 'percentile', sort: ['p50', 'p95', 'p99', 'p99.9'] },
          },
          width: 500,
        } as TopLevelSpec,
        path.join(r.outDir, 'latency-percentiles'),
      )),
    );
  // 2. delivery latency over time (per second of the send schedule)
  const series: { t: number; target: string; phase: string; stat: string; ms: number }[] = [];
  for (const t of targets)
    for (const fo of t.fanout) {
      const t0 = fo.series[0]?.sec ?? 0;
      for (const s of fo.series) {
        series.push({ t: s.sec - t0, target: t.label, phase: fo.phase, stat: 'p50', ms: s.p50 });
        series.push({ t: s.sec - t0, target: t.label, phase: fo.phase, stat: 'p99', ms: s.p99 });
      }
    }
  if (series.length)
    out.push(
      ...(await render(
        {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: 'Delivery latency over time (per second of the schedule)',
          data: { values: series },
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
        path.join(r.outDir, 'latency-over-time'),
      )),
    );
  // 3. sockets and memory over time
  const res: { s: number; target: string; series: string; value: number; panel: string }[] = [];
  for (const t of targets) {
    const t0 = Math.min(...(t.samples ?? []).map((x) => x.t), ...(t.timeline ?? []).map((x) => x.t));
    for (const x of t.timeline ?? []) res.push({ s: (x.t - t0) / 1000, target: t.label, series: `${t.label} sockets`, value: x.sockets, panel: 'sockets held' });
    for (const x of t.samples ?? []) res.push({ s: (x.t - t0) / 1000, target: t.label, series: `${t.label} ${x.replica}`, value: x.rssMb, panel: 'replica RSS (MB)' });
    for (const x of t.samples ?? []) if (x.lagMs !== undefined) res.push({ s: (x.t - t0) / 1000, target: t.label, series: `${t.label} ${x.replica}`, value: x.lagMs, panel: 'event-loop lag p99 (ms)' });
    for (const x of t.samples ?? []) if (x.cpuPct !== undefined) res.push({ s: (x.t - t0) / 1000, target: t.label, series: `${t.label} ${x.replica}`, value: x.cpuPct, panel: 'replica CPU (%)' });
  }
  if (res.length)
    out.push(
      ...(await render(
        {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: 'Sockets, memory, CPU and event-loop lag over the harness run',
          data: { values: res },
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
        path.join(r.outDir, 'resources-over-time'),
      )),
    );
  return out;
}

function latRow(name: string, s?: Partial<LatencySummary>): string {
  return `| ${name} | ${s?.count ?? '-'} | ${f(s?.p50, 2)} | ${f(s?.p95, 2)} | ${f(s?.p99, 2)} | ${f(s?.p999, 2)} | ${f(s?.max, 2)} |`;
}

function markdown(r: Report): string {
  const L: string[] = [];
  const sb = r.targets.switchboard;
  const st = r.targets.stock;
  const m = r.machine as Record<string, unknown>;
  L.push(`# Load test report: profile ${r.profile}`, '');
  L.push(`Started ${r.startedAt}, finished ${r.finishedAt}. Machine: ${m.cpus} cores (${m.cpuModel}), ${m.memGiB} GiB, Node ${m.node}, Docker ${m.docker}, Compose ${m.compose}.`);
  L.push(`Load average at start ${(m.loadavg as number[]).join(' ')}, at end ${((r.machineAfter?.loadavg as number[]) ?? []).join(' ')}; other containers running at start: ${m.containersRunning} (${(m.otherProjectsRunning as string[]).join(', ') || 'none'}). Load generators run on the same machine, ${r.path === 'published' ? "through nginx's published port on 127.0.0.1 (Docker's userland proxy)" : "against nginx's address on each project's bridge network (no userland proxy; the same path for Switchboard and stock)"}.`, '');
  L.push(r.failures.length ? `**Result: FAILED**\n\n${r.failures.map((x) => `- ${x}`).join('\n')}\n` : '**Result: passed** (every tool ran, report written' + (r.profile === 'smoke' ? ', delivery ratio 1' : '') + ').\n');

  if (sb && st) {
    const hs = sb.fanout.find((x) => x.phase === (r.settings as { headline: string }).headline) ?? sb.fanout[0];
    const hb = st.fanout.find((x) => x.phase === hs?.phase);
    L.push('## Headline: Switchboard / stock, same run', '');
    L.push('| figure | Switchboard | stock | Switchboard / stock |', '| --- | --- | --- | --- |');
    if (hs && hb) {
      L.push(`| ${hs.phase}: delivery ratio | ${hs.deliveryRatio.toFixed(4)} | ${hb.deliveryRatio.toFixed(4)} | - |`);
      for (const k of ['p50', 'p99', 'p999', 'max'] as const) L.push(`| ${hs.phase}: delivery ${k} (ms) | ${f(hs.latency.delivery?.[k], 2)} | ${f(hb.latency.delivery?.[k], 2)} | ${ratio(hs.latency.delivery?.[k], hb.latency.delivery?.[k])} |`);
      L.push(`| ${hs.phase}: deliveries/s | ${hs.deliveriesPerSec} | ${hb.deliveriesPerSec} | ${ratio(hs.deliveriesPerSec, hb.deliveriesPerSec)} |`);
    }
    L.push(`| connect+join p99 (ms) | ${f(sb.storm?.latency.connectJoin?.p99, 2)} | ${f(st.storm?.latency.connectJoin?.p99, 2)} | ${ratio(sb.storm?.latency.connectJoin?.p99, st.storm?.latency.connectJoin?.p99)} |`);
    L.push(`| k6 delivery p99 (ms) | ${f(sb.k6?.delivery?.p99, 2)} | ${f(st.k6?.delivery?.p99, 2)} | ${ratio(sb.k6?.delivery?.p99, st.k6?.delivery?.p99)} |`);
    L.push(`| Artillery delivery p99 (ms) | ${f(sb.artillery?.delivery?.p99, 2)} | ${f(st.artillery?.delivery?.p99, 2)} | ${ratio(sb.artillery?.delivery?.p99, st.artillery?.delivery?.p99)} |`, '');
    L.push('### Targets (issue 11)', '');
    const t: string[] = [];
    if (hs && hb) {
      t.push(`| delivery ratio 1.0000 in ${hs.phase} (of acknowledged sends) | ${hs.deliveryRatio.toFixed(4)} | ${hs.deliveryRatio >= 1 ? 'met' : '**missed**'} |`);
      const rr = (hs.latency.delivery?.p99 ?? 0) / (hb.latency.delivery?.p99 || 1);
      // Only the same load compares: Switchboard must have held the whole population.
      const held = sb.population?.ok ?? hs.sockets;
      const want = st.population?.ok ?? hb.sockets;
      t.push(
        held < want
          ? `| delivery p99 <= 1.25x stock, same load | ${rr.toFixed(2)}x, but Switchboard held ${held} of ${sb.population?.sockets ?? want} sockets (stock ${want}), ${hs.deliveriesPerSec} vs ${hb.deliveriesPerSec} deliveries/s | **missed** (not the same load) |`
          : `| delivery p99 <= 1.25x stock | ${rr.toFixed(2)}x | ${rr <= 1.25 ? 'met' : '**missed**'} |`,
      );
    }
    const cj = sb.storm?.latency.connectJoin?.p99;
    const rate = sb.storm?.ratePerSec;
    t.push(`| connect+auth+join p99 < 50 ms at 500 connects/s | ${cj === undefined ? `no client connected (${sb.storm?.failed ?? '?'} of ${sb.storm?.sockets ?? '?'} failed)` : `${f(cj, 2)} ms`} at ${rate}/s | ${rate === 500 ? (cj !== undefined && cj < 50 ? 'met' : '**missed**') : 'not measured at 500/s in this profile'} |`);
    const pp = sb.presence?.online.p99;
    t.push(`| presence propagation p99 < 20 ms | ${sb.presence?.online.count ? `${f(pp, 2)} ms` : `no measurement (${sb.presence?.connected ?? 0} of ${sb.presence?.churners ?? '?'} churners connected)`} | ${pp !== undefined && sb.presence?.online.count ? (pp < 20 ? 'met' : '**missed**') : '**not measured**'} |`);
    t.push(`| 15,000 sockets held across 3 replicas | ${r.profile === 'capacity' ? 'see capacity' : 'not run in this profile (PROFILE=capacity)'} | ${r.profile === 'capacity' ? '' : 'not measured'} |`);
    L.push('| target | measured | |', '| --- | --- | --- |', ...t, '');
  }

  for (const t of Object.values(r.targets)) {
    L.push(`## ${t.label} (project ${t.project}, ${t.replicas} replicas${Object.keys(t.env).length ? `; ${Object.entries(t.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''})`, '');
    if (t.errors?.length) L.push(`**Errors:** ${t.errors.join('; ')}`, '');
    L.push('Latencies in ms.', '', '| measure | count | p50 | p95 | p99 | p99.9 | max |', '| --- | --- | --- | --- | --- | --- | --- |');
    if (t.storm) {
      L.push(latRow(`storm: login (HTTP)`, t.storm.latency.login));
      L.push(latRow(`storm: connect (handshake + auth)`, t.storm.latency.connect));
      L.push(latRow(`storm: first join`, t.storm.latency.join));
      L.push(latRow(`storm: connect + auth + join`, t.storm.latency.connectJoin));
      L.push(latRow(`storm: login + connect + join from schedule`, t.storm.latency.loginConnectJoin));
    }
    for (const fo of t.fanout) {
      L.push(latRow(`${fo.phase}: delivery`, fo.latency.delivery));
      L.push(latRow(`${fo.phase}: send ack`, fo.latency.ack));
    }
    if (t.presence) {
      L.push(latRow('presence: online on another replica', t.presence.online));
      L.push(latRow('presence: offline on another replica', t.presence.offline));
    }
    if (t.k6) L.push(latRow('k6: delivery', t.k6.delivery), latRow('k6: connect + join', t.k6.connect));
    if (t.artillery) L.push(latRow('artillery: delivery', t.artillery.delivery), latRow('artillery: connect', t.artillery.connect));
    L.push('');
    if (t.population)
      L.push(`Fan-out population: ${t.population.sockets} sockets at ${t.population.ratePerSec}/s took ${t.population.durationS} s; ${t.population.ok} connected, ${t.population.failed} failed${Object.keys(t.population.connect).length ? ` (${Object.entries(t.population.connect).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}; connect + auth + join p50 ${f(t.population.latency.connectJoin?.p50, 2)} ms, p99 ${f(t.population.latency.connectJoin?.p99, 2)} ms.`, '');
    if (t.storm)
      L.push(`Connect storm: ${t.storm.sockets} sockets at ${t.storm.ratePerSec}/s took ${t.storm.durationS} s; ${t.storm.ok} connected, ${t.storm.failed} failed${Object.keys(t.storm.connect).length ? ` (${Object.entries(t.storm.connect).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}.`, '');
    if (t.fanout.length) {
      L.push('| fan-out phase | sockets | rooms | msg/s | s | expected | delivered | lost | dup | reordered | ratio | deliveries/s | send errors |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
      for (const fo of t.fanout)
        L.push(`| ${fo.phase} | ${fo.sockets} | ${fo.rooms} | ${fo.msgPerSec} | ${fo.durationS} | ${fo.loss.expected} | ${fo.loss.delivered} | ${fo.loss.lost} | ${fo.loss.duplicated} | ${fo.loss.reordered} | ${fo.deliveryRatio.toFixed(4)} | ${fo.deliveriesPerSec} | ${Object.entries(fo.sendErrors).map(([k, v]) => `${k}: ${v}`).join(', ') || 0} |`);
      L.push('');
    }
    if (t.presence) L.push(`Presence churn: ${t.presence.connected} of ${t.presence.churners} users connected at ${t.presence.ratePerSec}/s, each online ${t.presence.holdMs} ms, ${t.presence.observers} observers (one per replica); connects no other-replica observer heard: ${t.presence.missedOnline}, disconnects: ${t.presence.missedOffline}.`, '');
    for (const tool of [t.k6, t.artillery])
      if (tool) L.push(`${tool.tool}: exit ${tool.exitCode}; ${tool.sockets ?? '-'} sockets, ${tool.sent ?? '-'} sent, ${tool.received ?? '-'} received of ${tool.expected ?? '-'} expected, ${tool.errors} errors${tool.error ? ` (${tool.error})` : ''}. Raw output: \`${tool.raw}\`.`, '');
    if (t.replicaSummary && Object.keys(t.replicaSummary).length) {
      L.push('| replica | samples | RSS first / last / peak (MB) | CPU mean (%) | event-loop lag max (ms) |', '| --- | --- | --- | --- | --- |');
      for (const [rep, s] of Object.entries(t.replicaSummary)) L.push(`| ${rep} | ${s.samples} | ${s.rssFirstMb} / ${s.rssLastMb} / ${s.rssPeakMb} | ${s.cpuMeanPct} | ${s.lagMaxMs} |`);
      L.push('');
    }
    const peaks = new Map<string, { cpu: number; mem: number }>();
    for (const c of t.containers ?? []) {
      const p = peaks.get(c.container) ?? { cpu: 0, mem: 0 };
      peaks.set(c.container, { cpu: Math.max(p.cpu, c.cpuPct), mem: Math.max(p.mem, c.memMb) });
    }
    if (peaks.size) L.push(`Containers (docker stats, peak): ${[...peaks].map(([c, p]) => `${c} ${p.cpu}% CPU / ${p.mem} MiB`).join('; ')}.`, '');
  }
  if (r.charts?.length) {
    L.push('## Charts', '');
    for (const c of r.charts.filter((x) => x.endsWith('.png'))) L.push(`![${c}](${c})`, '');
  }
  return L.join('\n') + '\n';
}

export async function writeReport(r: Report): Promise<void> {
  try {
    r.charts = await charts(r);
  } catch (e) {
    r.failures.push(`charts: ${(e as Error).message}`);
  }
  fs.writeFileSync(path.join(r.outDir, 'report.json'), JSON.stringify(r, null, 1));
  fs.writeFileSync(path.join(r.outDir, 'report.md'), markdown(r));
}
