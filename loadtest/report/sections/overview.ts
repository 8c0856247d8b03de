// The title, when and where the run happened, what it ran and its verdict.
import type { Report } from '../types';

function machineLines(report: Report): string[] {
  const machine = report.machine;
  const loadAtEnd = (report.machineAfter?.loadavg as number[]) ?? [];
  const otherProjects = (machine.otherProjectsRunning as string[]).join(', ') || 'none';
  const loadPath =
    report.path === 'published'
      ? "through nginx's published port on 127.0.0.1 (Docker's userland proxy)"
      : "against nginx's address on each project's bridge network (no userland proxy; the same path for Switchboard and stock)";
  return [
    `Started ${report.startedAt}, finished ${report.finishedAt}. Machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memGiB} GiB, Node ${machine.node}, Docker ${machine.docker}, Compose ${machine.compose}.`,
    `Load average at start ${(machine.loadavg as number[]).join(' ')}, at end ${loadAtEnd.join(' ')}; other containers running at start: ${machine.containersRunning} (${otherProjects}). Load generators run on the same machine, ${loadPath}.`,
    '',
  ];
}

function verdict(report: Report): string {
  if (report.failures.length) return `**Result: FAILED**\n\n${report.failures.map((failure) => `- ${failure}`).join('\n')}\n`;
  const smokeFanout = report.profile === 'smoke' && report.scenarios?.includes('fanout') ? ', delivery ratio 1' : '';
  return `**Result: passed** (every scenario ran, report written${smokeFanout}; targets are judged below, not in this verdict).\n`;
}

export function overviewSection(report: Report): string[] {
  return [`# Load test report: profile ${report.profile}`, '', ...machineLines(report), `Scenarios: ${(report.scenarios ?? []).join(', ') || '-'}.`, '', verdict(report)];
}
