// Chaos under load, the fault matrix: per target its stack and setup, then one
// row per phase (the reference, then each fault): what was lost live and
// after reconnect + history:sync, what was never acknowledged, duplicates as
// shown and raw, the time to recover, and server errors. chaosProblems says
// which phases fail the run.
import type { ChaosPhase, ChaosResult } from '../../harness/chaos';
import type { LossSummary } from '../../harness/loss';
import { count, countsByKind, escapeCell, markdownTable, ms, ratio, totalOf, type Cell } from '../table';
import type { Report, TargetReport } from '../types';

const PHASE_HEADERS = [
  'phase',
  'fault',
  'acked sends',
  'lost live',
  'acked and lost after reconnect + history:sync',
  'recovered from history',
  'not acked (why)',
  'shown twice (by id)',
  'raw duplicates: live + history overlap',
  'reconnected (failed)',
  'time to recover (ms)',
  'probe max gap (ms)',
  'delivery p99 (ms)',
  'server errors: INTERNAL acks; 5xx; nginx errors; replica error lines',
];

const lossText = (loss: LossSummary) => `${loss.lost} of ${loss.expected}`;

function afterSyncText(phase: ChaosPhase): string {
  if (!phase.afterSync) return 'n/a (no history)';
  const lost = phase.afterSync.lost > 0 ? `**${lossText(phase.afterSync)}**` : lossText(phase.afterSync);
  const failed = phase.resync?.syncErrors ? `; **${phase.resync.syncErrors} history:sync failed** (${countsByKind(phase.resync.syncErrorCodes)})` : '';
  return `${lost}${failed}`;
}

function faultText(phase: ChaosPhase): string {
  const at = phase.killAtMs !== undefined ? ` at ${phase.killAtMs} ms` : '';
  const took = phase.restoreTookMs !== undefined ? ` (the command took ${phase.restoreTookMs} ms)` : '';
  const repaired = phase.restoreAtMs !== undefined ? `, repaired at ${phase.restoreAtMs} ms${took}` : phase.fault === 'replica' ? `; started again after the phase${took}` : took;
  return escapeCell(`${phase.event}${at}${repaired}`);
}

function serverErrorsText(phase: ChaosPhase): string {
  const e = phase.serverErrors;
  if (!e) return '-';
  const replicas = totalOf(e.replicaErrorLines);
  const where = replicas ? ` (${Object.entries(e.replicaErrorLines).filter(([, n]) => n).map(([r, n]) => `${r} ${n}`).join(', ')})` : '';
  return `${e.internalAcks}; ${countsByKind(e.http5xx)}; ${e.nginxErrorLines}; ${replicas}${where}${e.unreadable?.length ? ` (unread: ${e.unreadable.length})` : ''}`;
}

/** The longest silence, and where the probe's receiver went if it had to reconnect. */
function probeGapText(phase: ChaosPhase, sender: string): Cell {
  const on = phase.probeReceiverOn;
  if (!on) return phase.probeMaxGapMs;
  return `${phase.probeMaxGapMs} (its receiver reconnected to ${on}${on === sender ? ", the sender's replica: no cross-replica delivery to count there" : ''})`;
}

function phaseRow(phase: ChaosPhase, chaos: ChaosResult): Cell[] {
  const synced = phase.afterSync !== undefined;
  const shownTwice = phase.shown?.shownTwice ?? 0;
  return [
    phase.phase,
    phase.fault ? faultText(phase) : 'none (reference)',
    count(phase.acked),
    lossText(phase.live),
    afterSyncText(phase),
    synced ? (phase.resync?.recovered ?? 0) : 'n/a',
    countsByKind(phase.sendErrors),
    shownTwice ? `**${shownTwice}**` : 0,
    `${phase.live.duplicated} + ${synced ? (phase.shown?.historyOverlap ?? 0) : 'n/a'}`,
    `${phase.resync?.reconnected ?? 0} (${phase.resync?.reconnectFailed ?? 0})`,
    count(phase.recoverMs),
    probeGapText(phase, chaos.probe.from),
    ms(phase.delivery?.p99),
    serverErrorsText(phase),
  ];
}

function setupLine(target: TargetReport, chaos: ChaosResult): string {
  const connectFailed = chaos.connectFailed ? ` (**${chaos.connectFailed} failed to connect**: ${countsByKind(chaos.connectErrors ?? {})})` : '';
  const restarts = Object.entries(chaos.restarts ?? {}).filter(([, restartCount]) => restartCount > 0);
  const restartText = restarts.length ? restarts.map(([replica, restartCount]) => `${replica} ${restartCount}`).join(', ') : 'none';
  const notRun = Object.entries(chaos.notRun ?? {}).map(([fault, why]) => `${fault} (${why})`);
  const errors = chaos.errors.length ? `; **errors:** ${chaos.errors.join('; ')}` : '';
  const stack = chaos.project ? `project ${chaos.project}, Redis ${chaos.redis ?? 'single'}; ` : '';
  const receivers = chaos.probe.receivers?.length ? chaos.probe.receivers.join(', ') : chaos.probe.to;
  return (
    `${target.label}: ${stack}${chaos.connected} of ${chaos.sockets} sockets${connectFailed} in ${chaos.rooms} rooms, ${chaos.msgPerSec} msg/s, phases of ${chaos.phaseS} s` +
    `${chaos.downS !== undefined ? `, each fault repaired ${chaos.downS} s after it began` : ''}; replica faults hurt ${chaos.victim ?? '?'}; ` +
    `probe ${chaos.probe.from} -> ${receivers}${notRun.length ? `; not run: ${notRun.join(', ')}` : ''}; replica restarts during the run: ${restartText} (their logs: \`chaos-${target.label}-*.log\`)${errors}.`
  );
}

const NOTES = [
  '"Acked and lost": a message whose `message:send` was acknowledged ok that some member of its room never got, neither live nor after reconnecting and running `history:sync` from the newest message it had before the phase (the reliable-delivery recipe of docs/protocol.md; each failed reconnect or sync is tried three times). Any such message fails the run, and so does a message shown twice; the stock server has no history, so its live loss stands. Sends that were never acknowledged (`UNAVAILABLE`, timeouts, no socket) are not losses: they are counted under "not acked", and a message stored although its ack was lost can be "recovered" beyond the live loss.',
  '',
  '"Shown twice": a (producer, sequence) a client received under two message ids, so it would show twice after de-duplicating by id (must be 0). Raw duplicates are de-duplicated by id: the same message delivered twice live, and `history:sync` answering messages the client already had.',
  '',
  'Time to recover, per fault: nginx reload, the first cross-replica delivery after the reload; freeze and Redis cut, the first cross-replica delivery to a client on the hurt replica after the resume / reconnect command; MongoDB and Redis killed, the first cross-replica delivery after the start command; a Redis primary killed (Cluster, Sentinel), from the kill to the first cross-replica delivery after the failover; a replica killed, until every client it dropped was connected and joined on another replica ("-": none within 10 s). Server errors are counted over the phase and its resync: acks with code INTERNAL, nginx\'s 5xx answers by status (503 is also the service\'s own UNAVAILABLE), nginx\'s error-log lines, and the replicas\' log lines at error level.',
  '',
];

const redisRecoverMs = (target: TargetReport) => target.chaos?.phases.find((phase) => phase.fault === 'redis' || phase.phase === 'chaos-redis')?.recoverMs;

/** The chaos phases that fail the run: an acknowledged message lost after reconnect + history:sync, or one shown twice. */
export function chaosProblems(target: TargetReport): string[] {
  const out: string[] = [];
  for (const phase of target.chaos?.phases ?? []) {
    const lost = phase.afterSync?.lost ?? 0;
    const unsynced = phase.resync?.syncErrors ? ` (${phase.resync.syncErrors} history:sync calls still failing: ${countsByKind(phase.resync.syncErrorCodes)})` : '';
    if (lost > 0) out.push(`${target.label} ${phase.phase}: ${lost} acknowledged deliveries never reached their member, live or after reconnect + history:sync${unsynced}`);
    if ((phase.shown?.shownTwice ?? 0) > 0) out.push(`${target.label} ${phase.phase}: ${phase.shown!.shownTwice} messages shown twice after de-duplicating by id`);
  }
  return out;
}

export function chaosSection(report: Report): string[] {
  const targets = Object.values(report.targets).filter((target) => target.chaos);
  if (!targets.length) return [];
  const lines = ['## Chaos under load: the fault matrix', ''];
  for (const target of targets) lines.push(setupLine(target, target.chaos!), '', ...markdownTable(PHASE_HEADERS, target.chaos!.phases.map((phase) => phaseRow(phase, target.chaos!))), '');
  lines.push(...NOTES);
  const { switchboard, stock } = report.targets;
  if (switchboard?.chaos && stock?.chaos && switchboard.chaos.redis === stock.chaos.redis) lines.push(`Switchboard / stock, Redis time to recover: ${ratio(redisRecoverMs(switchboard), redisRecoverMs(stock))}.`, '');
  return lines;
}
