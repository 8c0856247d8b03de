// Where the load comes from: the same k6 load through the published port, to
// the bridge address and from inside the compose network.
import type { PathResult } from '../../k6/paths';
import { count, markdownTable, ms, ratio, type Cell } from '../table';
import type { Report, TargetReport } from '../types';

const INTRO =
  "The same k6 script and load (profile `k6` settings) three ways: on the host through the published port (Docker's userland proxy), on the host to nginx's bridge address, and from a container on the project's network (compose `loadtest` profile, `loadtest/compose/k6.yml`).";
const READING =
  'What the userland proxy costs is the published row against the bridge row of the same target; the default path of every other scenario is the bridge address (LT_PATH), the same for Switchboard and stock.';

function pathRows(target: TargetReport): Cell[][] {
  const paths = target.paths ?? [];
  const bridgeP99 = paths.find((path) => path.path === 'bridge')?.k6.delivery?.p99;
  return paths.map(({ path, k6 }: PathResult) => [
    target.label,
    path,
    k6.exitCode,
    ms(k6.delivery?.p50),
    ms(k6.delivery?.p99),
    ms(k6.connect?.p99),
    `${count(k6.received)} / ${count(k6.expected)}`,
    k6.errors,
    ratio(k6.delivery?.p99, bridgeP99),
  ]);
}

export function pathsSection(report: Report): string[] {
  const targets = Object.values(report.targets);
  if (!targets.some((target) => target.paths)) return [];
  return [
    '## Where the load comes from',
    '',
    INTRO,
    '',
    ...markdownTable(
      ['target', 'path', 'exit', 'delivery p50 (ms)', 'delivery p99 (ms)', 'connect+join p99 (ms)', 'received / expected', 'errors', 'p99 / bridge'],
      targets.flatMap(pathRows),
    ),
    '',
    READING,
    '',
  ];
}
