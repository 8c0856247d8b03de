// How this run measured: the clients, the generator rule, the network path,
// CPU pinning, Redis persistence and how each replica's metrics were read, so
// the figures can be judged (docs/benchmarks.md, "what these figures are worth").
import type { Profile } from '../../profiles';
import type { Report } from '../types';

export function methodSection(report: Report): string[] {
  const profile = report.settings as Partial<Profile>;
  const m = report.method;
  const rounds = report.rounds ?? [];
  const ups = rounds.map((r) => `${r.label} r${r.round} ${r.upS} s`).join(', ');
  const via = new Set(Object.values(report.targets).flatMap((t) => Object.values(t.metricsVia ?? {})));
  return [
    '## Method',
    '',
    `- Stacks: one fresh compose project per target and round, started right before its measurement and removed right after (${ups || 'none'}); only one runs at a time.`,
    `- Network: ${m?.network ?? 'bridge'}; generators reach nginx ${m?.network?.startsWith('host') ? "on 127.0.0.1 at the project's port, where it listens itself" : m?.network?.startsWith('none') ? 'on 127.0.0.1' : report.path === 'published' ? 'through its published port' : "at its address on the project's network"}.`,
    `- CPU pinning: ${m?.cpuset ?? 'none (stack and generators share every core)'}.`,
    `- Redis persistence: ${m?.redisPersistence ?? 'append-only file on both (the baseline\'s Redis is started like Switchboard\'s)'}.`,
    `- Fan-out listeners: ${profile.liteListeners ? 'the small ws client (harness/lite-client.ts); producers on socket.io-client' : 'socket.io-client'}; ${profile.workers} generator processes.`,
    `- A phase counts only when every generator's event-loop delay p99 stayed at or under ${profile.generatorLagP99LimitMs} ms.`,
    `- Replica metrics read ${via.size ? [...via].map((v) => (v === 'internal' ? "on each replica's internal metrics port" : v === 'nginx' ? 'through nginx on the main port (service without METRICS_PORT)' : 'nowhere (no answer)')).join(' and ') : 'nowhere'}; container CPU and memory from cgroups.`,
    '',
  ];
}
