// Unit test of the settle rule: node --import tsx --test lib/settle.test.ts (npm test)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settle, settledLine } from './settle';

const readings = (values: number[]) => {
  let i = 0;
  return async () => values[Math.min(i++, values.length - 1)];
};

test('settles after forS quiet readings in a row; a busy reading starts the count again', async () => {
  const s = await settle({ busyPct: 20, forS: 3, maxS: 60 }, readings([90, 80, 10, 12, 45, 5, 6, 7, 99]));
  assert.deepEqual(s, { waitedS: 8, quiet: true, busyPct: [90, 80, 10, 12, 45, 5, 6, 7] });
  assert.match(settledLine(s), /started 8 s after the previous scenario/);
});

test('gives up after maxS readings and says so', async () => {
  const s = await settle({ busyPct: 20, forS: 3, maxS: 4 }, readings([50, 10, 10, 60, 10]));
  assert.equal(s.quiet, false);
  assert.equal(s.waitedS, 4);
  assert.match(settledLine(s), /without the machine settling \(still 60 % busy\)/);
});
