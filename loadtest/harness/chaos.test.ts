// Unit tests of the chaos matrix's counting, without Docker: node --import tsx --test harness/chaos.test.ts (npm test)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roomChannel, servesSlot } from '../lib/redis-primary';
import { chaosProblems } from '../report/sections/chaos';
import type { TargetReport } from '../report/types';
import type { ChaosPhase } from './chaos';
import { emptyLoss } from './loss';
import { afterGap, firstAfter, maxGap } from './probe';
import { count5xx, countNginxErrors, isErrorLine } from './server-errors';
import { ShownMessages } from './shown';

test('shown twice: one (producer, seq) under two ids shows twice; the same id again does not', () => {
  const s = new ShownMessages(new Map([['c1\u0000room-a', 'id-0']]));
  s.shown('c1', 'p.0', 1, 'id-1');
  s.shown('c1', 'p.0', 1, 'id-1'); // live twice, or live and history: one id, shown once
  s.shown('c2', 'p.0', 1, 'id-1');
  s.shown('c1', 'p.0', 2, 'id-2');
  s.shown('c1', 'p.0', 2, 'id-2b'); // stored twice: a second id
  s.shown('c1', 'p.0', 2, 'id-2c');
  s.repeated();
  s.repeated();
  assert.deepEqual(s.counts(), { shownTwice: 2, historyOverlap: 2 });
  assert.equal(s.anchor('c1', 'room-a'), 'id-0');
  assert.equal(s.anchor('c2', 'room-a'), undefined);
});

test('replica log lines at error level: pino level >= 50, or anything on stderr that is not JSON', () => {
  assert.equal(isErrorLine('{"level":50,"msg":"socket handler failed"}', false), true);
  assert.equal(isErrorLine('{"level":60,"msg":"fatal"}', false), true);
  assert.equal(isErrorLine('{"level":40,"msg":"redis unavailable"}', false), false);
  assert.equal(isErrorLine('{"level":30}', true), false);
  assert.equal(isErrorLine('redis pub: Socket closed unexpectedly', true), true);
  assert.equal(isErrorLine('stock baseline realtime-1 on :3000', false), false);
  assert.equal(isErrorLine('   ', true), false);
  assert.equal(isErrorLine('{not json', true), true);
});

test("nginx: 5xx answers by status from its 5xx log, and error-log lines at [error] or worse", () => {
  assert.deepEqual(count5xx('502 GET /socket.io/\n503 POST /api/login\n503 POST /api/login\n\n'), { '502': 1, '503': 2 });
  assert.deepEqual(count5xx('200 GET /health\n'), {});
  const stderr = [
    '2026/12/07 13:40:01 [error] 30#30: *12 connect() failed (111: Connection refused) while connecting to upstream',
    '2026/12/07 13:40:01 [warn] 30#30: *13 upstream server temporarily disabled',
    '2026/12/07 13:40:02 [crit] 30#30: something',
    '2026/12/07 13:40:03 [notice] 1#1: signal process started',
  ].join('\n');
  assert.equal(countNginxErrors(stderr), 2);
});

test('the probe: first arrival after a moment, the end of an outage, the longest silence', () => {
  const arrivals = [100, 200, 300, 2300, 2400, 2500];
  assert.equal(firstAfter(arrivals, 250), 50);
  assert.equal(firstAfter(arrivals, 2500), undefined);
  // A silence of 2 s after 300: it ended at 2300, 2050 ms after 250.
  assert.equal(afterGap(arrivals, 250, 1000, 3000), 2050);
  // No such silence after 2300 up to 2600: 0; still silent at 4000: undefined.
  assert.equal(afterGap(arrivals, 2300, 1000, 2600), 0);
  assert.equal(afterGap(arrivals, 2300, 1000, 4000), undefined);
  assert.equal(afterGap(arrivals.slice(0, 3), 250, 1000, 1100), 0);
  assert.equal(afterGap(arrivals.slice(0, 3), 250, 1000, 1400), undefined);
  assert.equal(maxGap(arrivals, 0, 2600), 2000);
  assert.equal(maxGap(arrivals, 2400, 5000), 2500);
});

test('a Redis Cluster primary serves the slot of the probe room\'s channel', () => {
  assert.equal(roomChannel('probe-ab12'), 'sb:socket.io#/#room:probe-ab12#');
  assert.equal(servesSlot('0-5460', 0), true);
  assert.equal(servesSlot('0-5460', 5461), false);
  assert.equal(servesSlot('5461-10922 12000', 12000), true);
  assert.equal(servesSlot('[93->-e7d1] 10923-16383', 93), false);
  assert.equal(servesSlot(undefined, 1), false);
});

const phase = (over: Partial<ChaosPhase>): ChaosPhase => ({ phase: 'chaos-redis', event: 'x', live: emptyLoss(), probeMaxGapMs: 0, sendErrors: {}, ...over });

test('a chaos phase fails the run when an acknowledged message is lost after history:sync, or one is shown twice; never for live loss alone', () => {
  const target = (phases: ChaosPhase[]): TargetReport => ({ label: 'switchboard', project: 'p', url: '', replicas: 3, env: {}, fanout: [], chaos: { sockets: 1, connected: 1, rooms: 1, msgPerSec: 1, phaseS: 1, probe: { from: 'a', to: 'b' }, phases, restarts: {}, errors: [] } });
  const lostLive = { ...emptyLoss(), expected: 10, delivered: 7, lost: 3 };
  assert.deepEqual(chaosProblems(target([phase({ live: lostLive, afterSync: { ...emptyLoss(), expected: 10, delivered: 10 } })])), []);
  // The stock server: live loss, no history, no failure.
  assert.deepEqual(chaosProblems(target([phase({ live: lostLive })])), []);
  const problems = chaosProblems(
    target([
      phase({ live: lostLive, afterSync: { ...emptyLoss(), expected: 10, delivered: 8, lost: 2 }, resync: { reconnected: 0, reconnectFailed: 0, reconnectMs: 0, recovered: 1, syncErrors: 1, syncErrorCodes: { UNAVAILABLE: 1 } } }),
      phase({ phase: 'chaos-freeze', shown: { shownTwice: 1, historyOverlap: 5 } }),
    ]),
  );
  assert.deepEqual(problems, [
    'switchboard chaos-redis: 2 acknowledged deliveries never reached their member, live or after reconnect + history:sync (1 history:sync calls still failing: UNAVAILABLE: 1)',
    'switchboard chaos-freeze: 1 messages shown twice after de-duplicating by id',
  ]);
});
