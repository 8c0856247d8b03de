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
import type { ChatMixResult } from '../harness/chatmix';
import type { SoakResult } from '../harness/soak';
import type { ChaosResult } from '../harness/chaos';
import type { CapacityResult } from '../harness/capacity';
import type { VariantResult } from '../harness/variants';
import type { PathResult } from '../k6/paths';

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
  /** scenarios that could not be carried out, and why (e.g. no socket connected within the deadline) */
  failed?: Record<string, string>;
  chat?: ChatMixResult;
  soak?: SoakResult;
  chaos?: ChaosResult;
  capacity?: CapacityResult;
  paths?: PathResult[];
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
  scenarios?: string[];
  variants?: VariantResult[];
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
  // 4. variants: delivery p50/p99 per variant (same load)
  const vv = (r.variants ?? []).filter((v) => v.p99 !== undefined);
  if (vv.length)
    out.push(
      ...(await render(
        {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: `Variants: delivery latency under the same load (${r.profile})`,
          data: { values: vv.flatMap((v) => [{ variant: v.label, stat: 'p50', ms: v.p50 }, { variant: v.label, stat: 'p99', ms: v.p99 }]) },
          mark: 'bar',
          encoding: { y: { field: 'variant', type: 'nominal', title: null, sort: null }, yOffset: { field: 'stat' }, x: { field: 'ms', type: 'quantitative', title: 'ms' }, color: { field: 'stat' } },
          width: 500,
        } as TopLevelSpec,
        path.join(r.outDir, 'variants'),
      )),
    );
  // 5. chat mix: p99 per action and target
  const chat = targets.flatMap((t) => Object.entries(t.chat?.latency ?? {}).map(([action, l]) => ({ action, target: t.label, p50: l.p50, p99: l.p99 })));
  if (chat.length)
    out.push(
      ...(await render(
        {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: 'Chat mix: p99 per action',
          data: { values: chat },
          mark: 'bar',
          encoding: { y: { field: 'action', type: 'nominal', title: null }, yOffset: { field: 'target' }, x: { field: 'p99', type: 'quantitative', title: 'p99 (ms)' }, color: { field: 'target' } },
          width: 500,
        } as TopLevelSpec,
        path.join(r.outDir, 'chat-mix'),
      )),
    );
  // 6. soak: RSS and heap per replica over time
  const soak = targets.flatMap((t) => {
    const ss = t.soak?.samples ?? [];
    const t0 = ss[0]?.t ?? 0;
    return ss.flatMap((x) => [
      { s: (x.t - t0) / 1000, series: `${t.label} ${x.replica}`, panel: 'RSS (MB)', value: x.rssMb },
      ...(x.heapMb !== undefined ? [{ s: (x.t - t0) / 1000, series: `${t.label} ${x.replica}`, panel: 'heap used (MB)', value: x.heapMb }] : []),
      ...(x.lagMs !== undefined ? [{ s: (x.t - t0) / 1000, series: `${t.label} ${x.replica}`, panel: 'event-loop lag p99 (ms)', value: x.lagMs }] : []),
    ]);
  });
  if (soak.length)
    out.push(
      ...(await render(
        {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: 'Soak: memory and event-loop lag per replica',
          data: { values: soak },
          facet: { row: { field: 'panel', type: 'nominal', title: null } },
          spec: { width: 600, height: 150, mark: 'line', encoding: { x: { field: 's', type: 'quantitative', title: 's since the soak began' }, y: { field: 'value', type: 'quantitative', title: null }, color: { field: 'series', type: 'nominal' } } },
          resolve: { scale: { y: 'independent' } },
        } as TopLevelSpec,
        path.join(r.outDir, 'soak'),
      )),
    );
  return out;
}

const sumErr = (e: Record<string, number>) => Object.values(e).reduce((a, b) => a + b, 0);
const errList = (e: Record<string, number>) => Object.entries(e).map(([k, v]) => `${k}: ${v}`).join(', ') || '0';
const lossTxt = (l?: { expected: number; delivered: number; lost: number; duplicated: number }) => (l ? `${l.lost} of ${l.expected} (ratio ${l.expected ? (l.delivered / l.expected).toFixed(4) : '-'}), dup ${l.duplicated}` : 'n/a');

/** The scenarios with their own section: chat mix, soak, chaos, capacity, variants; each with Switchboard / stock where stock can do it. */
function scenarioSections(r: Report): string[] {
  const L: string[] = [];
  const ts = Object.values(r.targets);
  const sb = r.targets.switchboard;
  const st = r.targets.stock;
  const pair = (pick: (t: TargetReport) => number | undefined) => {
    const a = sb ? pick(sb) : undefined;
    const b = st ? pick(st) : undefined;
    return `| ${f(a, 2)} | ${f(b, 2)} | ${ratio(a, b)} |`;
  };
  if (ts.some((t) => t.chat)) {
    const c = ts.find((t) => t.chat)!.chat!;
    L.push('## Chat mix', '', `${c.users} users arriving at ${c.rate}/s, each for ${c.sessionS} s: log in, connect, join 1-${c.maxRoomsPerUser} of ${c.rooms} rooms, read each room's history (history:sync), then idle (exponential, mean ${c.thinkMs} ms), type (\`typing\`) for ${c.typingMs} ms, send; at the end leave the rooms. p99 per action in ms; the stock server has no history: n/a.`, '');
    L.push('| action (p99 ms) | Switchboard | stock | Switchboard / stock |', '| --- | --- | --- | --- |');
    for (const a of ['login', 'connect', 'join', 'history', 'send', 'delivery', 'leave']) {
      const na = (t?: TargetReport) => t?.chat?.notApplicable.includes(a);
      L.push(na(st) ? `| ${a} | ${f(sb?.chat?.latency[a]?.p99, 2)} | n/a | n/a |` : `| ${a} ${pair((t) => t.chat?.latency[a]?.p99)}`);
    }
    for (const t of ts)
      if (t.chat)
        L.push('', `${t.label}: ${t.chat.counts.connected ?? '-'} of ${t.chat.users} users connected, ${t.chat.counts.completed ?? 0} completed in ${t.chat.durationS} s; ${t.chat.counts.sent ?? 0} messages sent, ${t.chat.counts.delivered ?? 0} delivered; ${t.chat.counts.historyMessages ?? 0} history messages read; typing sent ${t.chat.counts.typingSent ?? 0}, relays received ${t.chat.counts.typingReceived ?? 0}; errors ${sumErr(t.chat.errors)}${sumErr(t.chat.errors) ? ` (${errList(t.chat.errors)})` : ''}.`);
    L.push('');
  }
  if (ts.some((t) => t.soak)) {
    const o = ts.find((t) => t.soak)!.soak!;
    L.push('## Soak', '', `${o.sockets} sockets in ${o.rooms} rooms, ${o.msgPerSec} msg/s for ${o.durationS} s in windows of ${o.windowS} s. **Leak rule:** ${o.rule}.`, '');
    L.push('| target | connected | windows | worst ratio | lost | p99 first / last window (ms) | verdict |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const t of ts)
      if (t.soak) {
        const w = t.soak.windows;
        L.push(`| ${t.label} | ${t.soak.connected} of ${t.soak.sockets}${t.soak.connectFailed ? ` (**${t.soak.connectFailed} failed**)` : ''} | ${w.length} | ${Math.min(...w.map((x) => x.deliveryRatio)).toFixed(4)} | ${w.reduce((a, x) => a + x.lost, 0)} | ${f(w[0]?.p99, 2)} / ${f(w[w.length - 1]?.p99, 2)} | ${t.soak.leaked ? '**LEAK**' : 'no leak'} |`);
      }
    L.push('', '| target | replica | samples | heap MB/min | RSS MB/min | growth heap / RSS (MB) | lag p99 mean / max (ms) | |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const t of ts)
      for (const [rep, x] of Object.entries(t.soak?.replicas ?? {}))
        L.push(`| ${t.label} | ${rep} | ${x.samples} | ${f(x.heapMbPerMin, 2)} | ${f(x.rssMbPerMin, 2)} | ${f(x.heapGrowthMb, 1)} / ${f(x.rssGrowthMb, 1)} | ${f(x.lagP99MeanMs, 2)} / ${f(x.lagP99MaxMs, 2)} | ${x.leak ? `**leak**: ${x.why}` : ''} |`);
    // Slopes can be negative or near zero: a ratio of them means nothing, so both are given.
    L.push('', `Mean steady-part slope over replicas, Switchboard vs stock: RSS ${f(meanOf(sb?.soak, 'rssMbPerMin'), 2)} vs ${f(meanOf(st?.soak, 'rssMbPerMin'), 2)} MB/min, heap ${f(meanOf(sb?.soak, 'heapMbPerMin'), 2)} vs ${f(meanOf(st?.soak, 'heapMbPerMin'), 2)} MB/min.`, '');
  }
  if (ts.some((t) => t.chaos)) {
    L.push('## Chaos under load', '');
    const syncFailed = (n: number, codes?: Record<string, number>) => (n > 0 ? `**${n}**${codes ? ` (${errList(codes)})` : ''}` : '0');
    for (const t of ts) {
      const c = t.chaos;
      if (!c) continue;
      const restarts = Object.entries(c.restarts ?? {}).filter(([, n]) => n > 0);
      L.push(`${t.label}: ${c.connected} of ${c.sockets} sockets${c.connectFailed ? ` (**${c.connectFailed} failed to connect**: ${errList(c.connectErrors ?? {})})` : ''} in ${c.rooms} rooms, ${c.msgPerSec} msg/s, phases of ${c.phaseS} s; probe ${c.probe.from} -> ${c.probe.to}; replica restarts during the run: ${restarts.length ? restarts.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'} (last log lines: \`chaos-${t.label}-*.log\`)${c.errors.length ? `; **errors:** ${c.errors.join('; ')}` : ''}.`, '');
      L.push('| phase | event | lost live | lost after reconnect + history:sync | recovered from history | history:sync calls failed | reconnected (failed) | time to recover (ms) | probe max gap (ms) | delivery p99 (ms) | send errors |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
      for (const p of c.phases)
        L.push(`| ${p.phase} | ${p.event}${p.killAtMs !== undefined ? ` at ${p.killAtMs} ms` : ''}${p.restoreAtMs !== undefined ? `, restored at ${p.restoreAtMs} ms (healthy ${p.restoreTookMs} ms later)` : ''} | ${lossTxt(p.live)} | ${p.afterSync ? lossTxt(p.afterSync) : 'n/a (no history)'} | ${p.afterSync ? (p.resync?.recovered ?? 0) : 'n/a'} | ${p.afterSync ? syncFailed(p.resync?.syncErrors ?? 0, p.resync?.syncErrorCodes) : 'n/a'} | ${p.resync?.reconnected ?? 0} (${p.resync?.reconnectFailed ?? 0}) | ${p.recoverMs ?? '-'} | ${p.probeMaxGapMs} | ${f(p.delivery?.p99, 2)} | ${errList(p.sendErrors)} |`);
      L.push('');
    }
    L.push('"Lost after reconnect + history:sync" counts only what the syncs that answered could find: where history:sync calls failed, those clients\' losses stay unverified, not proven.', '');
    L.push('Time to recover: for Redis, the first cross-replica delivery of the probe after the restore command (- : none within 10 s); for the replica, until every client it dropped was connected again elsewhere (and rejoined). "Recovered from history" can exceed the live loss by messages that were stored although their ack was lost.', '');
    if (sb?.chaos && st?.chaos) {
      const rec = (t: TargetReport) => t.chaos?.phases.find((p) => p.phase === 'chaos-redis')?.recoverMs;
      L.push(`Switchboard / stock, Redis time to recover: ${ratio(rec(sb), rec(st))}.`, '');
    }
  }
  if (ts.some((t) => t.capacity)) {
    L.push('## Capacity', '');
    for (const t of ts) {
      const c = t.capacity;
      if (!c) continue;
      L.push(`${t.label}: **${c.maxHeld} sockets held** (the last step every socket connected and stayed connected)${c.errors.length ? `; **errors:** ${c.errors.join('; ')}` : ''}.`, '');
      L.push('| step | connected | failed | still connected after hold | connect+join p99 (ms) | RSS per replica (MB) | held |', '| --- | --- | --- | --- | --- | --- | --- |');
      for (const x of c.steps) L.push(`| ${x.target} | ${x.connected} | ${x.failed} | ${x.heldAfter} | ${f(x.connectJoinP99, 2)} | ${Object.entries(x.rssMb).map(([k, v]) => `${k} ${v}`).join(', ')} | ${x.held ? 'yes' : '**no**'} |`);
      L.push('', `Fan-out search over ${c.search.sockets} sockets in ${c.search.rooms} rooms (p99 < ${c.search.p99LimitMs} ms, nothing lost): **best ${c.search.best ?? 'none'} msg/s**${c.search.firstFail !== undefined ? `, first failing ${c.search.firstFail} msg/s` : ' (no rate failed: the search stopped at the highest rate tried)'}.`, '');
      L.push('| msg/s | p99 (ms) | lost | ratio | deliveries/s | |', '| --- | --- | --- | --- | --- | --- |');
      for (const x of c.search.trials) L.push(`| ${x.msgPerSec} | ${f(x.p99, 2)} | ${x.lost} | ${x.deliveryRatio.toFixed(4)} | ${x.deliveriesPerSec} | ${x.pass ? 'pass' : 'fail'} |`);
      L.push('');
    }
    if (sb?.capacity && st?.capacity) L.push(`Switchboard / stock: sockets held ${ratio(sb.capacity.maxHeld, st.capacity.maxHeld)}, best fan-out rate ${ratio(sb.capacity.search.best, st.capacity.search.best)}.`, '');
  }
  if (ts.some((t) => t.paths)) {
    L.push('## Where the load comes from', '', 'The same k6 script and load (profile `k6` settings) three ways: on the host through the published port (Docker\'s userland proxy), on the host to nginx\'s bridge address, and from a container on the project\'s network (compose `loadtest` profile, `loadtest/compose/k6.yml`).', '');
    L.push('| target | path | exit | delivery p50 (ms) | delivery p99 (ms) | connect+join p99 (ms) | received / expected | errors | p99 / bridge |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const t of ts) {
      const bridge = t.paths?.find((p) => p.path === 'bridge')?.k6.delivery?.p99;
      for (const p of t.paths ?? []) L.push(`| ${t.label} | ${p.path} | ${p.k6.exitCode} | ${f(p.k6.delivery?.p50, 2)} | ${f(p.k6.delivery?.p99, 2)} | ${f(p.k6.connect?.p99, 2)} | ${p.k6.received ?? '-'} / ${p.k6.expected ?? '-'} | ${p.k6.errors} | ${ratio(p.k6.delivery?.p99, bridge)} |`);
    }
    L.push('', 'What the userland proxy costs is the published row against the bridge row of the same target; the default path of every other scenario is the bridge address (LT_PATH), the same for Switchboard and stock.', '');
  }
  if (r.variants?.length) {
    L.push('## Variants (same load on each)', '');
    L.push('| variant | target | replicas | transport | settings | connected | ratio | lost | p50 (ms) | p99 (ms) | deliveries/s | connect+join p99 (ms) | p99 / stock |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const v of r.variants) {
      const env = [...Object.entries(v.env).filter(([k]) => k === 'REDIS_ADAPTER').map(([k, x]) => `${k}=${x}`), ...(v.redis && v.redis !== 'single' ? [`Redis ${v.redis}`] : [])].join(' ');
      L.push(`| ${v.label} | ${v.target} | ${v.replicas} | ${v.transport} | ${env || '-'} | ${v.connected}/${v.sockets} | ${v.deliveryRatio?.toFixed(4) ?? '-'} | ${v.lost ?? '-'} | ${f(v.p50, 2)} | ${f(v.p99, 2)} | ${v.deliveriesPerSec ?? '-'} | ${f(v.connectJoinP99, 2)} | ${v.p99VsStock !== undefined ? `${v.p99VsStock.toFixed(2)}x (vs ${v.comparedWith})` : v.target === 'stock' ? '-' : 'n/a'} |${v.error ? ` **failed:** ${v.error.slice(0, 120)}` : ''}`);
    }
    L.push('');
  }
  return L;
}

/**
 * Scenarios that could not be carried out (with their reason) and setup phases
 * that ran short (not every socket or user connected within its deadline, the
 * scenario went on with the others): one row each, above everything else.
 */
export function statusRows(r: Pick<Report, 'targets' | 'variants'>): { target: string; scenario: string; status: string }[] {
  const rows: { target: string; scenario: string; status: string }[] = [];
  const short = (target: string, scenario: string, why?: string) => why && rows.push({ target, scenario, status: `ran short: ${why}` });
  for (const t of Object.values(r.targets)) {
    for (const [scenario, why] of Object.entries(t.failed ?? {})) rows.push({ target: t.label, scenario, status: `**FAILED:** ${why}` });
    if (t.chaos?.errors.length) rows.push({ target: t.label, scenario: 'chaos', status: `**FAILED:** ${t.chaos.errors.join('; ')}` });
    if (t.capacity?.errors.length) rows.push({ target: t.label, scenario: 'capacity', status: `**FAILED:** ${t.capacity.errors.join('; ')}` });
    short(t.label, 'fanout (population)', t.population?.shortfall);
    short(t.label, 'presence', t.presence?.shortfall);
    short(t.label, 'storm', t.storm?.shortfall);
    short(t.label, 'chat', t.chat?.shortfall);
    short(t.label, 'soak', t.soak?.shortfall);
    short(t.label, 'chaos', t.chaos?.shortfall);
    short(t.label, 'capacity (search population)', t.capacity?.search.shortfall);
  }
  for (const v of r.variants ?? []) {
    if (v.error) rows.push({ target: v.label, scenario: 'variants', status: `**FAILED:** ${v.error}` });
    else short(v.label, 'variants', v.shortfall);
  }
  return rows;
}

function statusSection(r: Report): string[] {
  const rows = statusRows(r);
  if (!rows.length) return [];
  const cell = (x: string) => x.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return ['## Scenarios that failed or ran short', '', '| target | scenario | status |', '| --- | --- | --- |', ...rows.map((x) => `| ${cell(x.target)} | ${cell(x.scenario)} | ${cell(x.status)} |`), ''];
}

function meanOf(s: SoakResult | undefined, k: 'rssMbPerMin' | 'heapMbPerMin'): number | undefined {
  const xs = Object.values(s?.replicas ?? {}).map((x) => x[k]).filter((x): x is number => x !== undefined);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
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
  L.push(`Scenarios: ${(r.scenarios ?? []).join(', ') || '-'}.`, '');
  L.push(r.failures.length ? `**Result: FAILED**\n\n${r.failures.map((x) => `- ${x}`).join('\n')}\n` : '**Result: passed** (every scenario ran, report written' + (r.profile === 'smoke' && r.scenarios?.includes('fanout') ? ', delivery ratio 1' : '') + '; targets are judged below, not in this verdict).\n');
  L.push(...statusSection(r));

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
    if (sb.storm)
      t.push(`| connect+auth+join p99 < 50 ms at 500 connects/s | ${cj === undefined ? `no client connected (${sb.storm.failed} of ${sb.storm.sockets} failed)` : `${f(cj, 2)} ms`} at ${rate}/s | ${rate === 500 ? (cj !== undefined && cj < 50 ? 'met' : '**missed**') : 'not measured at 500/s in this profile'} |`);
    else t.push('| connect+auth+join p99 < 50 ms at 500 connects/s | storm not run | not measured |');
    const pp = sb.presence?.online.p99;
    if (sb.presence) t.push(`| presence propagation p99 < 20 ms | ${sb.presence.online.count ? `${f(pp, 2)} ms` : `no measurement (${sb.presence.connected} of ${sb.presence.churners} churners connected)`} | ${pp !== undefined && sb.presence.online.count ? (pp < 20 ? 'met' : '**missed**') : '**not measured**'} |`);
    else t.push('| presence propagation p99 < 20 ms | presence churn not run | not measured |');
    const held = sb.capacity?.maxHeld;
    t.push(`| 15,000 sockets held across 3 replicas, presence running | ${held === undefined ? 'not run (PROFILE=capacity)' : `${held} held (steps ${sb.capacity!.steps.map((x) => x.target).join(', ')})`} | ${held === undefined ? 'not measured' : held >= 15000 ? 'met' : '**missed**'} |`);
    const best = sb.capacity?.search.best;
    if (sb.capacity) t.push(`| highest fan-out rate with p99 < ${sb.capacity.search.p99LimitMs} ms and nothing lost | ${best ?? 'none passed'} msg/s${st.capacity?.search.best ? ` (stock ${st.capacity.search.best})` : ''} | measured |`);
    if (sb.soak) t.push(`| no leak in the soak | ${sb.soak.leaked ? 'growth over the rule' : 'within the rule'} | ${sb.soak.leaked ? '**missed**' : 'met'} |`);
    L.push('| target | measured | |', '| --- | --- | --- |', ...t, '');
  }

  L.push(...scenarioSections(r));

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
