// Unit test of report.md: node --import tsx --test report/markdown.test.ts (npm test)
// A fixture run that reaches every section (both targets, chat, soak, chaos,
// capacity, paths, variants, failed and short scenarios, missed targets) must
// render exactly the committed report.md. After an intended change of the
// report, render the fixture again and review the diff:
//   node --import tsx -e "import('./report/markdown').then(({ renderMarkdown }) => process.stdout.write(renderMarkdown(require('./report/fixtures/report.json'))))" > report/fixtures/report.md
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { renderMarkdown } from './markdown';
import { escapeCell, markdownTable, ratio } from './table';
import type { Report } from './types';

const FIXTURES = path.join(__dirname, 'fixtures');

test('the fixture run renders the committed report.md', () => {
  const report = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'report.json'), 'utf8')) as Report;
  assert.equal(renderMarkdown(report), fs.readFileSync(path.join(FIXTURES, 'report.md'), 'utf8'));
});

test('a one-target run has no Switchboard / stock headline', () => {
  const report = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'report.json'), 'utf8')) as Report;
  delete report.targets.stock;
  const markdown = renderMarkdown(report);
  assert.doesNotMatch(markdown, /## Headline/);
  assert.match(markdown, /## switchboard \(project /);
});

test('tables: header, separator, rows; an empty header is one space wide', () => {
  assert.deepEqual(markdownTable(['msg/s', ''], [[300, 'pass']]), ['| msg/s | |', '| --- | --- |', '| 300 | pass |']);
  assert.equal(escapeCell('a | b\nc'), 'a \\| b c');
  assert.equal(ratio(3, 2), '1.50x');
  assert.equal(ratio(3, 0), '-');
  assert.equal(ratio(undefined, 2), '-');
});
