// Capacity: per target the socket steps held, then the fan-out rate search.
import type { CapacityResult } from '../../harness/capacity';
import { deliveryRatio, escapeCell, markdownTable, ms, ratio } from '../table';
import type { Report, TargetReport } from '../types';

function stepsTable(capacity: CapacityResult): string[] {
  return markdownTable(
    ['step', 'connected', 'failed', 'still connected after hold', 'connect+join p99 (ms)', 'RSS per replica (MB)', 'held'],
    capacity.steps.map((step) => [
      step.target,
      step.connected,
      step.failed,
      step.heldAfter,
      ms(step.connectJoinP99),
      Object.entries(step.rssMb)
        .map(([replica, rssMb]) => `${replica} ${rssMb}`)
        .join(', '),
      step.held ? 'yes' : '**no**',
    ]),
  );
}

function searchLines(search: CapacityResult['search']): string[] {
  const firstFail = search.firstFail !== undefined ? `, first failing ${search.firstFail} msg/s` : ' (no rate failed: the search stopped at the highest rate tried)';
  return [
    `Fan-out search over ${search.sockets} sockets in ${search.rooms} rooms (p99 < ${search.p99LimitMs} ms, nothing lost): **best ${search.best ?? 'none'} msg/s**${firstFail}.`,
    '',
    ...markdownTable(
      ['msg/s', 'p99 (ms)', 'lost', 'ratio', 'deliveries/s', ''],
      search.trials.map((trial) => [trial.msgPerSec, ms(trial.p99), trial.lost, deliveryRatio(trial.deliveryRatio), trial.deliveriesPerSec, trial.pass ? 'pass' : 'fail']),
    ),
  ];
}

function targetLines(target: TargetReport, capacity: CapacityResult): string[] {
  const errors = capacity.errors.length ? `; **errors:** ${capacity.errors.map(escapeCell).join('; ')}` : '';
  return [
    `${target.label}: **${capacity.maxHeld} sockets held** (the last step every socket connected and stayed connected)${errors}.`,
    '',
    ...stepsTable(capacity),
    '',
    ...searchLines(capacity.search),
    '',
  ];
}

export function capacitySection(report: Report): string[] {
  const targets = Object.values(report.targets).filter((target) => target.capacity);
  if (!targets.length) return [];
  const lines = ['## Capacity', '', ...targets.flatMap((target) => targetLines(target, target.capacity!))];
  const { switchboard, stock } = report.targets;
  if (switchboard?.capacity && stock?.capacity)
    lines.push(`Switchboard / stock: sockets held ${ratio(switchboard.capacity.maxHeld, stock.capacity.maxHeld)}, best fan-out rate ${ratio(switchboard.capacity.search.best, stock.capacity.search.best)}.`, '');
  return lines;
}
