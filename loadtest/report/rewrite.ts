// Re-renders report.md and the charts of a finished run from its report.json:
//   node --import tsx loadtest/report/rewrite.ts loadtest/results/<dir>
import fs from 'node:fs';
import path from 'node:path';
import type { Report } from './types';
import { writeReport } from './write';

const dir = path.resolve(process.argv[2] ?? '.');
const report = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as Report;
report.outDir = dir;
// A chart failure of the earlier rendering is not one of this one.
report.failures = report.failures.filter((failure) => !failure.startsWith('charts:'));
void writeReport(report).then(() => console.log(`rewrote ${path.join(dir, 'report.md')}`));
