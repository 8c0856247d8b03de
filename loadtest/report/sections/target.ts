// One target in full: every latency it measured, then its setup phases,
// fan-out phases, presence churn, tools and resources.
import type { StormResult } from '../../harness/scenarios';
import type { LatencySummary } from '../../lib/hist';
import { settledLine, type Settled } from '../../lib/settle';
import type { ToolResult } from '../../k6/run';
import { count, countsByKind, deliveryRatio, keyValues, markdownTable, ms, type Cell } from '../table';
import type { TargetReport } from '../types';

function latencyRow(measure: string, latency?: Partial<LatencySummary>): Cell[] {
  return [measure, count(latency?.count), ms(latency?.p50), ms(latency?.p95), ms(latency?.p99), ms(latency?.p999), ms(latency?.max)];
}

function latencyRows(target: TargetReport): Cell[][] {
  const rows: Cell[][] = [];
  const storm = target.storm?.latency;
  if (storm)
    rows.push(
      latencyRow('storm: login (HTTP)', storm.login),
      latencyRow('storm: connect (handshake + auth)', storm.connect),
      latencyRow('storm: first join', storm.join),
      latencyRow('storm: connect + auth + join', storm.connectJoin),
      latencyRow('storm: login + connect + join from schedule', storm.loginConnectJoin),
    );
  for (const phase of target.fanout) rows.push(latencyRow(`${phase.phase}: delivery`, phase.latency.delivery), latencyRow(`${phase.phase}: send ack`, phase.latency.ack));
  if (target.presence) rows.push(latencyRow('presence: online on another replica', target.presence.online), latencyRow('presence: offline on another replica', target.presence.offline));
  if (target.k6) rows.push(latencyRow('k6: delivery', target.k6.delivery), latencyRow('k6: connect + join', target.k6.connect));
  if (target.artillery) rows.push(latencyRow('artillery: delivery', target.artillery.delivery), latencyRow('artillery: connect', target.artillery.connect));
  return rows;
}

const connectErrors = (storm: StormResult) => (keyValues(storm.connect) ? ` (${keyValues(storm.connect)})` : '');

function populationLine(population: StormResult): string {
  const connectJoin = population.latency.connectJoin;
  return (
    `Fan-out population: ${population.sockets} sockets at ${population.ratePerSec}/s took ${population.durationS} s; ` +
    `${population.ok} connected, ${population.failed} failed${connectErrors(population)}; connect + auth + join p50 ${ms(connectJoin?.p50)} ms, p99 ${ms(connectJoin?.p99)} ms.`
  );
}

function stormLine(storm: StormResult, settled?: Settled): string {
  return `Connect storm: ${storm.sockets} sockets at ${storm.ratePerSec}/s took ${storm.durationS} s; ${storm.ok} connected, ${storm.failed} failed${connectErrors(storm)}${settled ? `; ${settledLine(settled)}` : ''}.`;
}

function fanoutTable(target: TargetReport): string[] {
  return markdownTable(
    ['fan-out phase', 'sockets', 'rooms', 'msg/s', 's', 'expected', 'delivered', 'lost', 'dup', 'reordered', 'ratio', 'deliveries/s', 'send errors'],
    target.fanout.map((phase) => [
      phase.phase,
      phase.sockets,
      phase.rooms,
      phase.msgPerSec,
      phase.durationS,
      phase.loss.expected,
      phase.loss.delivered,
      phase.loss.lost,
      phase.loss.duplicated,
      phase.loss.reordered,
      deliveryRatio(phase.deliveryRatio),
      phase.deliveriesPerSec,
      countsByKind(phase.sendErrors),
    ]),
  );
}

function presenceLine(presence: NonNullable<TargetReport['presence']>): string {
  return (
    `Presence churn: ${presence.connected} of ${presence.churners} users connected at ${presence.ratePerSec}/s, each online ${presence.holdMs} ms, ` +
    `${presence.observers} observers (one per replica); connects no other-replica observer heard: ${presence.missedOnline}, disconnects: ${presence.missedOffline}.`
  );
}

function toolLine(tool: ToolResult): string {
  return (
    `${tool.tool}: exit ${tool.exitCode}; ${count(tool.sockets)} sockets, ${count(tool.sent)} sent, ${count(tool.received)} received of ${count(tool.expected)} expected, ` +
    `${tool.errors} errors${tool.error ? ` (${tool.error})` : ''}. Raw output: \`${tool.raw}\`.`
  );
}

function replicaTable(summary: NonNullable<TargetReport['replicaSummary']>): string[] {
  return markdownTable(
    ['replica', 'samples', 'RSS first / last / peak (MB)', 'CPU mean (%)', 'event-loop lag max (ms)'],
    Object.entries(summary).map(([replica, replicaSummary]) => [
      replica,
      replicaSummary.samples,
      `${replicaSummary.rssFirstMb} / ${replicaSummary.rssLastMb} / ${replicaSummary.rssPeakMb}`,
      replicaSummary.cpuMeanPct,
      replicaSummary.lagMaxMs,
    ]),
  );
}

/** Peak CPU and memory per container over the docker stats samples. */
function containerPeaks(target: TargetReport): Map<string, { cpu: number; mem: number }> {
  const peaks = new Map<string, { cpu: number; mem: number }>();
  for (const sample of target.containers ?? []) {
    const peak = peaks.get(sample.container) ?? { cpu: 0, mem: 0 };
    peaks.set(sample.container, { cpu: Math.max(peak.cpu, sample.cpuPct), mem: Math.max(peak.mem, sample.memMb) });
  }
  return peaks;
}

function heading(target: TargetReport): string {
  const env = Object.entries(target.env)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  return `## ${target.label} (project ${target.project}, ${target.replicas} replicas${env ? `; ${env}` : ''})`;
}

export function targetSection(target: TargetReport): string[] {
  const lines = [heading(target), ''];
  if (target.errors?.length) lines.push(`**Errors:** ${target.errors.join('; ')}`, '');
  lines.push('Latencies in ms.', '', ...markdownTable(['measure', 'count', 'p50', 'p95', 'p99', 'p99.9', 'max'], latencyRows(target)), '');
  if (target.population) lines.push(populationLine(target.population), '');
  if (target.storm) lines.push(stormLine(target.storm, target.settled?.storm), '');
  if (target.fanout.length) lines.push(...fanoutTable(target), '');
  if (target.presence) lines.push(presenceLine(target.presence), '');
  for (const tool of [target.k6, target.artillery]) if (tool) lines.push(toolLine(tool), '');
  if (target.replicaSummary && Object.keys(target.replicaSummary).length) lines.push(...replicaTable(target.replicaSummary), '');
  const peaks = containerPeaks(target);
  if (peaks.size) lines.push(`Containers (docker stats, peak): ${[...peaks].map(([container, peak]) => `${container} ${peak.cpu}% CPU / ${peak.mem} MiB`).join('; ')}.`, '');
  return lines;
}
