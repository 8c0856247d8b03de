// Unit test of the loss checker: node --import tsx --test tools/loss-checker/index.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, formatReport, parseTag, Producer, tag, type Sent, type Tag } from './index.ts';

const t = (producerId: string, seq: number): Tag => ({ producerId, seq });

test('tag and parseTag round-trip inside any text', () => {
  assert.equal(tag('alice', 7), '[lc:alice:7]');
  assert.deepEqual(parseTag(`hello ${tag('a.b-c_1', 42)} world`), t('a.b-c_1', 42));
  assert.equal(parseTag('no tag here'), null);
  assert.throws(() => tag('bad id', 1));
  assert.throws(() => tag('a', -1));
});

test('a clean run reports nothing lost, duplicated or reordered', () => {
  const p = new Producer('a');
  const texts = [p.next('before'), p.next('during'), p.next('after')];
  const got = texts.map((x) => parseTag(x)!);
  const r = check({ sent: p.log, received: { b: got } });
  assert.equal(r.clean, true);
  assert.deepEqual(r.totals, { lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });
  assert.equal(r.receivers[0].phases.during.sent, 1);
  assert.equal(r.receivers[0].phases.during.received, 1);
});

test('lost, duplicated and reordered are counted in the phase the message was sent in', () => {
  const sent: Sent[] = [
    { producerId: 'a', seq: 0, phase: 'before' },
    { producerId: 'a', seq: 1, phase: 'during' },
    { producerId: 'a', seq: 2, phase: 'during' },
    { producerId: 'a', seq: 3, phase: 'during' },
    { producerId: 'a', seq: 4, phase: 'after' },
    { producerId: 'b', seq: 0, phase: 'during' },
  ];
  // a:2 lost; a:3 twice; a:1 after a:3 (reordered); b:0 fine; x:9 nobody sent.
  const r = check({ sent, received: { rx: [t('a', 0), t('a', 3), t('b', 0), t('a', 1), t('a', 3), t('a', 4), t('x', 9)] } });
  const rx = r.receivers[0];
  assert.deepEqual(rx.phases.before, { sent: 1, received: 1, lost: [], duplicated: [], reordered: [] });
  assert.deepEqual(rx.phases.during.lost, [t('a', 2)]);
  assert.deepEqual(rx.phases.during.duplicated, [t('a', 3)]);
  assert.deepEqual(rx.phases.during.reordered, [t('a', 1)]);
  assert.equal(rx.phases.during.sent, 4);
  assert.equal(rx.phases.during.received, 3);
  assert.deepEqual(rx.phases.after, { sent: 1, received: 1, lost: [], duplicated: [], reordered: [] });
  assert.deepEqual(rx.unexpected, [t('x', 9)]);
  assert.deepEqual(r.totals, { lost: 1, duplicated: 1, reordered: 1, unexpected: 1 });
  assert.equal(r.clean, false);
  assert.match(formatReport(r), /rx during: sent 4, received 3, lost 1 \[a:2\], duplicated 1 \[a:3\], reordered 1 \[a:1\]/);
});

test('expects() limits what each receiver should get', () => {
  const sent: Sent[] = [{ producerId: 'a', seq: 0, phase: 'before' }, { producerId: 'b', seq: 0, phase: 'before' }];
  const r = check({ sent, received: { a: [t('b', 0)], b: [t('a', 0)] }, expects: (rx, m) => m.producerId !== rx });
  assert.equal(r.clean, true);
  assert.equal(r.totals.unexpected, 0);
});

test('a receiver that got nothing loses everything; reporting the same send twice is an error', () => {
  const p = new Producer('a');
  p.next('before');
  p.next('during');
  const r = check({ sent: p.log, received: { silent: [] } });
  assert.equal(r.totals.lost, 2);
  assert.throws(() => check({ sent: [...p.log, p.log[0]], received: {} }));
});
