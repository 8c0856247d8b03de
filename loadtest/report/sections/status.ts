// Scenarios that could not be carried out (with their reason) and setup phases
// that ran short (not every socket or user connected within its deadline, the
// scenario went on with the others): one row each, above everything else.
import { escapeCell, markdownTable } from '../table';
import { chaosProblems } from './chaos';
import type { Report } from '../types';

export interface StatusRow {
  target: string;
  scenario: string;
  status: string;
}

export function statusRows(report: Pick<Report, 'targets' | 'variants'>): StatusRow[] {
  const rows: StatusRow[] = [];
  const failed = (target: string, scenario: string, why: string) => rows.push({ target, scenario, status: `**FAILED:** ${why}` });
  const ranShort = (target: string, scenario: string, shortfall?: string) => shortfall && rows.push({ target, scenario, status: `ran short: ${shortfall}` });
  for (const target of Object.values(report.targets)) {
    for (const [scenario, why] of Object.entries(target.failed ?? {})) failed(target.label, scenario, why);
    if (target.chaos?.errors.length) failed(target.label, 'chaos', target.chaos.errors.join('; '));
    const chaosLost = chaosProblems(target);
    if (chaosLost.length) failed(target.label, 'chaos', chaosLost.join('; '));
    if (target.capacity?.errors.length) failed(target.label, 'capacity', target.capacity.errors.join('; '));
    ranShort(target.label, 'fanout (population)', target.population?.shortfall);
    ranShort(target.label, 'presence', target.presence?.shortfall);
    ranShort(target.label, 'storm', target.storm?.shortfall);
    ranShort(target.label, 'chat', target.chat?.shortfall);
    ranShort(target.label, 'soak', target.soak?.shortfall);
    ranShort(target.label, 'chaos', target.chaos?.shortfall);
    ranShort(target.label, 'capacity (search population)', target.capacity?.search.shortfall);
  }
  for (const variant of report.variants ?? []) {
    if (variant.error) failed(variant.label, 'variants', variant.error);
    else ranShort(variant.label, 'variants', variant.shortfall);
  }
  return rows;
}

export function statusSection(report: Report): string[] {
  const rows = statusRows(report);
  if (!rows.length) return [];
  return [
    '## Scenarios that failed or ran short',
    '',
    ...markdownTable(
      ['target', 'scenario', 'status'],
      rows.map((row) => [row.target, row.scenario, row.status].map(escapeCell)),
    ),
    '',
  ];
}
