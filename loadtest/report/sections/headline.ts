// Switchboard / stock in the headline fan-out phase and the connect figures,
// then the targets the stack is judged by, met or missed.
import type { FanoutResult } from '../../harness/scenarios';
import { deliveryRatio, markdownTable, ms, ratio, type Cell } from '../table';
import type { Report, TargetReport } from '../types';

interface HeadlinePhases {
  switchboard?: FanoutResult;
  stock?: FanoutResult;
}

/** The profile's headline phase (else Switchboard's first) and the same phase of the stock run. */
function headlinePhases(report: Report, switchboard: TargetReport, stock: TargetReport): HeadlinePhases {
  const headline = (report.settings as { headline: string }).headline;
  const ofSwitchboard = switchboard.fanout.find((phase) => phase.phase === headline) ?? switchboard.fanout[0];
  return { switchboard: ofSwitchboard, stock: stock.fanout.find((phase) => phase.phase === ofSwitchboard?.phase) };
}

function comparisonRow(figure: string, ofSwitchboard?: number, ofStock?: number): Cell[] {
  return [figure, ms(ofSwitchboard), ms(ofStock), ratio(ofSwitchboard, ofStock)];
}

function headlineTable(switchboard: TargetReport, stock: TargetReport, phases: HeadlinePhases): string[] {
  const rows: Cell[][] = [];
  const { switchboard: ofSwitchboard, stock: ofStock } = phases;
  if (ofSwitchboard && ofStock) {
    const name = ofSwitchboard.phase;
    rows.push([`${name}: delivery ratio`, deliveryRatio(ofSwitchboard.deliveryRatio), deliveryRatio(ofStock.deliveryRatio), '-']);
    for (const stat of ['p50', 'p99', 'p999', 'max'] as const)
      rows.push(comparisonRow(`${name}: delivery ${stat} (ms)`, ofSwitchboard.latency.delivery?.[stat], ofStock.latency.delivery?.[stat]));
    rows.push([`${name}: deliveries/s`, ofSwitchboard.deliveriesPerSec, ofStock.deliveriesPerSec, ratio(ofSwitchboard.deliveriesPerSec, ofStock.deliveriesPerSec)]);
  }
  rows.push(comparisonRow('connect+join p99 (ms)', switchboard.storm?.latency.connectJoin?.p99, stock.storm?.latency.connectJoin?.p99));
  rows.push(comparisonRow('k6 delivery p99 (ms)', switchboard.k6?.delivery?.p99, stock.k6?.delivery?.p99));
  rows.push(comparisonRow('Artillery delivery p99 (ms)', switchboard.artillery?.delivery?.p99, stock.artillery?.delivery?.p99));
  return markdownTable(['figure', 'Switchboard', 'stock', 'Switchboard / stock'], rows);
}

const metOrMissed = (met: boolean) => (met ? 'met' : '**missed**');

function fanoutGoals(switchboard: TargetReport, stock: TargetReport, { switchboard: ofSwitchboard, stock: ofStock }: HeadlinePhases): Cell[][] {
  if (!ofSwitchboard || !ofStock) return [];
  const ratioRow = [`delivery ratio 1.0000 in ${ofSwitchboard.phase} (of acknowledged sends)`, deliveryRatio(ofSwitchboard.deliveryRatio), metOrMissed(ofSwitchboard.deliveryRatio >= 1)];
  const p99VsStock = (ofSwitchboard.latency.delivery?.p99 ?? 0) / (ofStock.latency.delivery?.p99 || 1);
  // Only the same load compares: Switchboard must have held the whole population.
  const held = switchboard.population?.ok ?? ofSwitchboard.sockets;
  const stockHeld = stock.population?.ok ?? ofStock.sockets;
  const p99Row =
    held < stockHeld
      ? [
          'delivery p99 <= 1.25x stock, same load',
          `${p99VsStock.toFixed(2)}x, but Switchboard held ${held} of ${switchboard.population?.sockets ?? stockHeld} sockets (stock ${stockHeld}), ${ofSwitchboard.deliveriesPerSec} vs ${ofStock.deliveriesPerSec} deliveries/s`,
          '**missed** (not the same load)',
        ]
      : ['delivery p99 <= 1.25x stock', `${p99VsStock.toFixed(2)}x`, metOrMissed(p99VsStock <= 1.25)];
  return [ratioRow, p99Row];
}

function stormGoal(switchboard: TargetReport): Cell[] {
  const goal = 'connect+auth+join p99 < 50 ms at 500 connects/s';
  const storm = switchboard.storm;
  if (!storm) return [goal, 'storm not run', 'not measured'];
  const p99 = storm.latency.connectJoin?.p99;
  const measured = p99 === undefined ? `no client connected (${storm.failed} of ${storm.sockets} failed)` : `${ms(p99)} ms`;
  const judged = storm.ratePerSec === 500 ? metOrMissed(p99 !== undefined && p99 < 50) : 'not measured at 500/s in this profile';
  return [goal, `${measured} at ${storm.ratePerSec}/s`, judged];
}

function presenceGoal(switchboard: TargetReport): Cell[] {
  const goal = 'presence propagation p99 < 20 ms';
  const presence = switchboard.presence;
  if (!presence) return [goal, 'presence churn not run', 'not measured'];
  const p99 = presence.online.p99;
  const measured = presence.online.count ? `${ms(p99)} ms` : `no measurement (${presence.connected} of ${presence.churners} churners connected)`;
  return [goal, measured, p99 !== undefined && presence.online.count ? metOrMissed(p99 < 20) : '**not measured**'];
}

function capacityGoals(switchboard: TargetReport, stock: TargetReport): Cell[][] {
  const capacity = switchboard.capacity;
  const held = capacity?.maxHeld;
  const rows: Cell[][] = [
    [
      '15,000 sockets held across 3 replicas, presence running',
      held === undefined ? 'not run (PROFILE=capacity)' : `${held} held (steps ${capacity!.steps.map((step) => step.target).join(', ')})`,
      held === undefined ? 'not measured' : metOrMissed(held >= 15000),
    ],
  ];
  if (capacity) {
    const stockBest = stock.capacity?.search.best ? ` (stock ${stock.capacity.search.best})` : '';
    rows.push([`highest fan-out rate with p99 < ${capacity.search.p99LimitMs} ms and nothing lost`, `${capacity.search.best ?? 'none passed'} msg/s${stockBest}`, 'measured']);
  }
  return rows;
}

function goalsTable(switchboard: TargetReport, stock: TargetReport, phases: HeadlinePhases): string[] {
  const rows = [...fanoutGoals(switchboard, stock, phases), stormGoal(switchboard), presenceGoal(switchboard), ...capacityGoals(switchboard, stock)];
  if (switchboard.soak) rows.push(['no leak in the soak', switchboard.soak.leaked ? 'growth over the rule' : 'within the rule', metOrMissed(!switchboard.soak.leaked)]);
  return markdownTable(['target', 'measured', ''], rows);
}

/** Only when both targets ran: every figure here is Switchboard against stock. */
export function headlineSection(report: Report): string[] {
  const { switchboard, stock } = report.targets;
  if (!switchboard || !stock) return [];
  const phases = headlinePhases(report, switchboard, stock);
  return [
    '## Headline: Switchboard / stock, same run',
    '',
    ...headlineTable(switchboard, stock, phases),
    '',
    '### Targets',
    '',
    ...goalsTable(switchboard, stock, phases),
    '',
  ];
}
