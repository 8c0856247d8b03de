// report.md: the sections in reading order, each from the report data alone.
import { capacitySection } from './sections/capacity';
import { chaosSection } from './sections/chaos';
import { chartsSection } from './sections/charts';
import { attributionSection } from './sections/attribution';
import { chatSection } from './sections/chat';
import { cpuSection } from './sections/cpu';
import { methodSection } from './sections/method';
import { searchSection } from './sections/search';
import { headlineSection } from './sections/headline';
import { overviewSection } from './sections/overview';
import { pathsSection } from './sections/paths';
import { soakSection } from './sections/soak';
import { statusSection } from './sections/status';
import { targetSection } from './sections/target';
import { variantsSection } from './sections/variants';
import type { Report } from './types';

export function renderMarkdown(report: Report): string {
  const lines = [
    ...overviewSection(report),
    ...statusSection(report),
    ...headlineSection(report),
    ...methodSection(report),
    ...cpuSection(report),
    ...attributionSection(report),
    ...searchSection(report),
    ...chatSection(report),
    ...soakSection(report),
    ...chaosSection(report),
    ...capacitySection(report),
    ...pathsSection(report),
    ...variantsSection(report),
    ...Object.values(report.targets).flatMap(targetSection),
    ...chartsSection(report),
  ];
  return lines.join('\n') + '\n';
}
