// Unit test of the repeats summary and the accounting checks: node --import tsx --test report/summary.test.ts (npm test)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { renderMarkdown } from './markdown';
import { accountingProblems, spread, summaryRows, verdictOf } from './summary';
import type { Report } from './types';

const fixture = (): Report => JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'report.json'), 'utf8')) as Report;

test('spread: median and range; a ratio range across 1.0 is no measurable difference', () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(spread([4, undefined, 2]), { median: 3, min: 2, max: 4, n: 2 });
  assert.equal(spread([undefined, Number.NaN]), undefined);
  assert.equal(verdictOf(spread([0.9, 1.1, 1.3])), 'no measurable difference');
  assert.equal(verdictOf(spread([1.1, 1.3])), 'Switchboard higher');
  assert.equal(verdictOf(spread([0.7, 0.95])), 'Switchboard lower');
});

test('an invalid phase is left out of its figure and of the ratio, and counted as invalid', () => {
  const r = fixture();
  const row = summaryRows(r).find((x) => x.key === 'p99:fanout-300')!;
  assert.equal(row.stock?.n, 2);
  assert.equal(row.ratio?.n, 2);
  assert.deepEqual(row.invalid, { stock: 1 });
  // Every round invalid for one target: no ratio at all.
  for (const round of r.rounds!) if (round.label === 'stock') for (const f of round.fanout) if (f.phase === 'fanout-300') f.invalid = 'late';
  const none = summaryRows(r).find((x) => x.key === 'p99:fanout-300')!;
  assert.equal(none.stock, undefined);
  assert.equal(none.ratio, undefined);
});

test('the fixture has sound accounting; a missing group, no generator figure, or a lagging phase counted are problems', () => {
  assert.deepEqual(accountingProblems(fixture()), []);
  const r = fixture();
  const f = r.rounds![0].fanout[0];
  f.account!.missing = ['redis'];
  f.account!.generators.workers = [];
  r.rounds![1].fanout[1].account = undefined;
  assert.deepEqual(accountingProblems(r), ['switchboard round 1 fanout-50: no CPU figure for redis', 'switchboard round 1 fanout-50: no generator CPU figure', 'stock round 1 fanout-300: no CPU accounting']);
  const lag = fixture();
  (lag.settings as { mustBeInvalid?: string }).mustBeInvalid = 'fanout-300';
  const problems = accountingProblems(lag);
  assert.ok(problems.some((p) => /fanout-300: the generators were made to lag .* but the phase was not marked invalid/.test(p)), problems.join('\n'));
  assert.ok(problems.includes('fanout-300 is counted in the summary'));
});

test('a zero or missing CPU per delivery is a problem where the phase counts', () => {
  const r = fixture();
  const a = r.rounds![0].fanout[0].account!;
  a.serverUs = 0;
  assert.deepEqual(accountingProblems(r), ['switchboard round 1 fanout-50: server-side CPU per delivery is 0, not a positive number']);
});

test('the headline says which figures are invalid and judges the targets on medians', () => {
  const md = renderMarkdown(fixture());
  assert.match(md, /\| fanout-300: delivery p99 \(ms\) \[stock: 1 invalid\] \|/);
  assert.match(md, /\| server-side CPU per delivered message at fanout-50 <= 1\.25x stock .* \| \*\*missed\*\* \|/);
  assert.match(md, /\*\*invalid:\*\* generator event-loop delay p99 180 ms > 50 ms/);
});
