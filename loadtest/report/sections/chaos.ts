// Chaos under load: per target its setup, then per phase (Redis killed, a
// replica killed) what was lost live and after reconnect + history:sync.
import type { ChaosPhase, ChaosResult } from '../../harness/chaos';
import type { LossSummary } from '../../harness/loss';
import { count, countsByKind, markdownTable, ms, ratio, type Cell } from '../table';
import type { Report, TargetReport } from '../types';

const PHASE_HEADERS = [
  'phase',
  'event',
  'lost live',
  'lost after reconnect + history:sync',
  'recovered from history',
  'history:sync calls failed',
  'reconnected (failed)',
  'time to recover (ms)',
  'probe max gap (ms)',
  'delivery p99 (ms)',
  'send errors',
];

function lossText(loss?: LossSummary): string {
  if (!loss) return 'n/a';
  const deliveredShare = loss.expected ? (loss.delivered / loss.expected).toFixed(4) : '-';
  return `${loss.lost} of ${loss.expected} (ratio ${deliveredShare}), dup ${loss.duplicated}`;
}

function syncFailures(failed: number, byCode?: Record<string, number>): string {
  return failed > 0 ? `**${failed}**${byCode ? ` (${countsByKind(byCode)})` : ''}` : '0';
}

function eventText(phase: ChaosPhase): string {
  const killed = phase.killAtMs !== undefined ? ` at ${phase.killAtMs} ms` : '';
  const restored = phase.restoreAtMs !== undefined ? `, restored at ${phase.restoreAtMs} ms (healthy ${phase.restoreTookMs} ms later)` : '';
  return `${phase.event}${killed}${restored}`;
}

function phaseRow(phase: ChaosPhase): Cell[] {
  // No history on the target (the stock server): nothing was synced.
  const synced = phase.afterSync !== undefined;
  return [
    phase.phase,
    eventText(phase),
    lossText(phase.live),
    synced ? lossText(phase.afterSync) : 'n/a (no history)',
    synced ? (phase.resync?.recovered ?? 0) : 'n/a',
    synced ? syncFailures(phase.resync?.syncErrors ?? 0, phase.resync?.syncErrorCodes) : 'n/a',
    `${phase.resync?.reconnected ?? 0} (${phase.resync?.reconnectFailed ?? 0})`,
    count(phase.recoverMs),
    phase.probeMaxGapMs,
    ms(phase.delivery?.p99),
    countsByKind(phase.sendErrors),
  ];
}

function setupLine(target: TargetReport, chaos: ChaosResult): string {
  const connectFailed = chaos.connectFailed ? ` (**${chaos.connectFailed} failed to connect**: ${countsByKind(chaos.connectErrors ?? {})})` : '';
  const restarts = Object.entries(chaos.restarts ?? {}).filter(([, restartCount]) => restartCount > 0);
  const restartText = restarts.length ? restarts.map(([replica, restartCount]) => `${replica} ${restartCount}`).join(', ') : 'none';
  const errors = chaos.errors.length ? `; **errors:** ${chaos.errors.join('; ')}` : '';
  return (
    `${target.label}: ${chaos.connected} of ${chaos.sockets} sockets${connectFailed} in ${chaos.rooms} rooms, ${chaos.msgPerSec} msg/s, phases of ${chaos.phaseS} s; ` +
    `probe ${chaos.probe.from} -> ${chaos.probe.to}; replica restarts during the run: ${restartText} (last log lines: \`chaos-${target.label}-*.log\`)${errors}.`
  );
}

const NOTES = [
  '"Lost after reconnect + history:sync" counts only what the syncs that answered could find: where history:sync calls failed, those clients\' losses stay unverified, not proven.',
  '',
  'Time to recover: for Redis, the first cross-replica delivery of the probe after the restore command (- : none within 10 s); for the replica, until every client it dropped was connected again elsewhere (and rejoined). "Recovered from history" can exceed the live loss by messages that were stored although their ack was lost.',
  '',
];

const redisRecoverMs = (target: TargetReport) => target.chaos?.phases.find((phase) => phase.phase === 'chaos-redis')?.recoverMs;

export function chaosSection(report: Report): string[] {
  const targets = Object.values(report.targets).filter((target) => target.chaos);
  if (!targets.length) return [];
  const lines = ['## Chaos under load', ''];
  for (const target of targets) lines.push(setupLine(target, target.chaos!), '', ...markdownTable(PHASE_HEADERS, target.chaos!.phases.map(phaseRow)), '');
  lines.push(...NOTES);
  const { switchboard, stock } = report.targets;
  if (switchboard?.chaos && stock?.chaos) lines.push(`Switchboard / stock, Redis time to recover: ${ratio(redisRecoverMs(switchboard), redisRecoverMs(stock))}.`, '');
  return lines;
}
