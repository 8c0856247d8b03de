// A finished run's folder: report.json (every figure and sample), the charts
// and report.md.
import fs from 'node:fs';
import path from 'node:path';
import { renderCharts } from './charts';
import { renderMarkdown } from './markdown';
import type { Report } from './types';

export async function writeReport(report: Report): Promise<void> {
  try {
    report.charts = await renderCharts(report);
  } catch (e) {
    // The figures stand without the charts: the run reports the failure instead of losing everything.
    report.failures.push(`charts: ${(e as Error).message}`);
  }
  fs.writeFileSync(path.join(report.outDir, 'report.json'), JSON.stringify(report, null, 1));
  fs.writeFileSync(path.join(report.outDir, 'report.md'), renderMarkdown(report));
}
