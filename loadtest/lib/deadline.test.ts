// Unit test of the setup deadlines: node --import tsx --test lib/deadline.test.ts (npm test)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeSetup, MIN_SETUP_DEADLINE_MS, scheduleSpreadMs, setupDeadlineMs, topErrors, withDeadline } from './deadline';

test('the deadline scales with the planned work and is never under 30 s', () => {
  // nothing planned: the minimum
  assert.equal(setupDeadlineMs({ spreadMs: 0, perClientMs: 0 }), MIN_SETUP_DEADLINE_MS);
  // 500 sockets at 100/s with 20 s timeouts (login, connect, join): 2 x 5 s + 60 s + 30 s
  assert.equal(setupDeadlineMs({ spreadMs: 5000, perClientMs: 60_000 }), 100_000);
  // 5,000 sockets at 100/s: 2 x 50 s + 60 s + 30 s
  assert.equal(setupDeadlineMs({ spreadMs: 50_000, perClientMs: 60_000 }), 190_000);
  // more planned work, a later deadline
  assert.ok(setupDeadlineMs({ spreadMs: 80_000, perClientMs: 60_000 }) > setupDeadlineMs({ spreadMs: 50_000, perClientMs: 60_000 }));
  // nonsense in, the minimum out
  assert.equal(setupDeadlineMs({ spreadMs: Number.NaN, perClientMs: -5 }), MIN_SETUP_DEADLINE_MS);
  assert.equal(setupDeadlineMs({ spreadMs: 0, perClientMs: 0, minMs: 5000, marginMs: 0 }), 5000);
});

test('the spread of a schedule is when its last client starts', () => {
  assert.equal(scheduleSpreadMs([], 1000), 0);
  assert.equal(scheduleSpreadMs([500, 1500, 6000, 2000], 1000), 5000);
  assert.equal(scheduleSpreadMs([10, 20], 1000), 0); // all overdue
});

test('withDeadline resolves with the promise when it is in time', async () => {
  assert.equal(await withDeadline(Promise.resolve(7), 1000, () => -1), 7);
  assert.equal(await withDeadline(new Promise<number>((r) => setTimeout(() => r(3), 5)), 1000, () => -1), 3);
});

test('withDeadline gives the fallback when the promise hangs', async () => {
  const t0 = Date.now();
  let asked = 0;
  const r = await withDeadline(
    new Promise<number>(() => undefined), // never settles
    30,
    () => {
      asked++;
      return -1;
    },
  );
  assert.equal(r, -1);
  assert.equal(asked, 1);
  assert.ok(Date.now() - t0 < 1000);
});

test('withDeadline passes a rejection through and leaves no timer behind', async () => {
  await assert.rejects(withDeadline(Promise.reject(new Error('boom')), 60_000, () => 0), /boom/);
  // (a timer left behind would keep this test process alive for a minute)
});

test('judgeSetup: all connected is neither an error nor a shortfall', () => {
  const o = judgeSetup({ expected: 100, ok: 100, tookMs: 2000 });
  assert.deepEqual(o, { expected: 100, ok: 100, missing: 0 });
  assert.deepEqual(judgeSetup({ expected: 0, ok: 0, tookMs: 0 }), { expected: 0, ok: 0, missing: 0 });
});

test('judgeSetup: none connected is one plain error for the scenario', () => {
  const o = judgeSetup({ expected: 1000, ok: 0, tookMs: 60_000, deadlineMs: 60_000, errors: { 'deadline: not connected and joined within 60 s': 900, 'login: HTTP 503': 100 } });
  assert.equal(o.missing, 1000);
  assert.equal(o.shortfall, undefined);
  assert.equal(o.error, '0 of 1000 sockets connected within 60 s (the deadline of 60 s ran out); the stack is not accepting connections (deadline: not connected and joined within 60 s: 900, login: HTTP 503: 100)');
  // failing fast, before the deadline: no mention of it
  assert.equal(judgeSetup({ expected: 20, ok: 0, tookMs: 3200, deadlineMs: 60_000, noun: 'users' }).error, '0 of 20 users connected within 3 s; the stack is not accepting connections');
});

test('judgeSetup: some connected is a shortfall the scenario carries on with', () => {
  const o = judgeSetup({ expected: 500, ok: 480, tookMs: 12_400, deadlineMs: 100_000, errors: { 'login: HTTP 500': 20 } });
  assert.equal(o.error, undefined);
  assert.equal(o.missing, 20);
  assert.equal(o.shortfall, '480 of 500 sockets connected within 12 s, 20 failed (login: HTTP 500: 20)');
});

test('topErrors lists the most frequent first', () => {
  assert.equal(topErrors({ a: 1, b: 5, c: 3 }), 'b: 5, c: 3');
  assert.equal(topErrors(undefined), '');
});
