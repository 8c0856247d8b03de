// Re-renders report.md and the charts of a finished run from its report.json:
//   node --import tsx loadtest/report/rewrite.ts loadtest/results/<dir>
import fs from 'node:fs';
import path from 'node:path';
import { writeReport, type Report } from './write';

const dir = path.resolve(process.argv[2] ?? '.');
const r = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as Report;
r.outDir = dir;
r.failures = r.failures.filter((f) => !f.startsWith('charts:'));
void writeReport(r).then(() => console.log(`rewrote ${path.join(dir, 'report.md')}`));
