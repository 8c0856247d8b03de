// Unit test of the soak's leak rule: node --import tsx --test lib/leak.test.ts (npm test)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_FULL_GCS, trends } from './leak';
import type { Sample } from './sampler';

const limits = { maxHeapMbPerMin: 5, maxRssMbPerMin: 10, minGrowthMb: 10 };

/** One sample every 4 s for `seconds`: used heap climbs 10 MB between full GCs every 20 s, each leaving `live(t)`. */
function sawtooth(seconds: number, live: (s: number) => number, withLive = true): Sample[] {
  const out: Sample[] = [];
  let lastGc = 0;
  let fullGcs = 7;
  for (let s = 0; s <= seconds; s += 4) {
    if (s - lastGc >= 20) {
      lastGc = s;
      fullGcs += 1;
    }
    const heapLiveMb = Math.round(live(lastGc) * 10) / 10;
    out.push({ t: s * 1000, replica: 'realtime-1', rssMb: 240, heapMb: heapLiveMb + (s - lastGc) * 0.5, ...(withLive ? { heapLiveMb, fullGcs } : {}) });
  }
  return out;
}

test('a steady live set is no leak, though used heap sampled before a full GC climbs', () => {
  // The window ends at the top of a sawtooth tooth: used heap alone reads as growth.
  const samples = sawtooth(76, () => 50);
  const used = trends(samples.map(({ heapLiveMb: _live, fullGcs: _gcs, ...s }) => s), 0, { ...limits, minGrowthMb: 1 })['realtime-1'];
  assert.equal(used.heapMeasure, 'used');
  const live = trends(samples, 0, { ...limits, minGrowthMb: 1 })['realtime-1'];
  assert.equal(live.heapMeasure, 'after full GC');
  assert.equal(live.fullGcs, 3);
  assert.equal(live.heapMbPerMin, 0);
  assert.equal(live.leak, false);
  assert.ok((used.heapMbPerMin ?? 0) > (live.heapMbPerMin ?? 0));
});

test('a live set that grows after every full GC is a leak', () => {
  const live = trends(sawtooth(120, (s) => 50 + s * 0.2), 0, limits)['realtime-1'];
  assert.equal(live.heapMeasure, 'after full GC');
  assert.equal(live.leak, true);
  assert.match(live.why ?? '', /^heap after full GC \+1[12]/);
});

test(`a steady part with fewer than ${MIN_FULL_GCS} full GC leaves the heap unjudged; RSS still is`, () => {
  const samples = sawtooth(16, (s) => 50 + s).map((s) => ({ ...s, rssMb: 200 + s.t / 1000 }));
  const tr = trends(samples, 0, limits)['realtime-1'];
  assert.equal(tr.fullGcs, 0);
  assert.equal(tr.heapMbPerMin, undefined);
  assert.equal(tr.leak, true);
  assert.match(tr.why ?? '', /^RSS \+60/);
  // One full GC is enough for a line: from the live set the part started with to the one after it.
  assert.equal(trends(sawtooth(30, () => 50), 0, limits)['realtime-1'].heapMbPerMin, 0);
});
