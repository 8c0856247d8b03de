// The chat mix: p99 per action, Switchboard / stock, and what each target's users did.
import { countsByKind, markdownTable, ms, ratio, totalOf, type Cell } from '../table';
import type { Report, TargetReport } from '../types';
import { settledLine } from '../../lib/settle';

const ACTIONS = ['login', 'connect', 'join', 'history', 'send', 'delivery', 'leave'];

function actionRow(action: string, switchboard?: TargetReport, stock?: TargetReport): Cell[] {
  const ofSwitchboard = switchboard?.chat?.latency[action]?.p99;
  // The stock server cannot do some actions (it has no history).
  if (stock?.chat?.notApplicable.includes(action)) return [action, ms(ofSwitchboard), 'n/a', 'n/a'];
  const ofStock = stock?.chat?.latency[action]?.p99;
  return [action, ms(ofSwitchboard), ms(ofStock), ratio(ofSwitchboard, ofStock)];
}

function usersLine(target: TargetReport): string {
  const chat = target.chat!;
  const counts = chat.counts;
  const errors = totalOf(chat.errors);
  return (
    `${target.label}: ${counts.connected ?? '-'} of ${chat.users} users connected, ${counts.completed ?? 0} completed in ${chat.durationS} s; ` +
    `${counts.sent ?? 0} messages sent, ${counts.delivered ?? 0} delivered; ${counts.historyMessages ?? 0} history messages read; ` +
    `typing sent ${counts.typingSent ?? 0}, relays received ${counts.typingReceived ?? 0}; errors ${errors}${errors ? ` (${countsByKind(chat.errors)})` : ''}` +
    `${target.settled?.chat ? `; ${settledLine(target.settled.chat)}` : ''}.`
  );
}

export function chatSection(report: Report): string[] {
  const targets = Object.values(report.targets).filter((target) => target.chat);
  if (!targets.length) return [];
  const mix = targets[0].chat!;
  const { switchboard, stock } = report.targets;
  const description =
    `${mix.users} users arriving at ${mix.rate}/s, each for ${mix.sessionS} s: log in, connect, join 1-${mix.maxRoomsPerUser} of ${mix.rooms} rooms, ` +
    `read each room's history (history:sync), then idle (exponential, mean ${mix.thinkMs} ms), type (\`typing\`) for ${mix.typingMs} ms, send; ` +
    `at the end leave the rooms. p99 per action in ms; the stock server has no history: n/a.`;
  return [
    '## Chat mix',
    '',
    description,
    '',
    ...markdownTable(
      ['action (p99 ms)', 'Switchboard', 'stock', 'Switchboard / stock'],
      ACTIONS.map((action) => actionRow(action, switchboard, stock)),
    ),
    ...targets.flatMap((target) => ['', usersLine(target)]),
    '',
  ];
}
