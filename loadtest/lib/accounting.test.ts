// Unit test of the CPU accounting's readers: node --import tsx --test lib/accounting.test.ts (npm test)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lagRule, serverTimings } from './accounting';
import { cgroupDirs, cgroupMounts, groupOf, machineCpu } from './cgroup';
import { histogram, histogramDelta, quantile } from './prom';

const MOUNTINFO_V1 = [
  '30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu',
  '31 25 0:27 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct',
  '33 25 0:29 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory',
  '40 25 0:35 / /sys/fs/cgroup/unified rw,relatime shared:19 - cgroup2 cgroup2 rw',
].join('\n');

test('cgroup v1 (cgroupfs): cpuacct and memory directories of a container process', () => {
  const mounts = cgroupMounts(MOUNTINFO_V1);
  const dirs = cgroupDirs('4:memory:/docker/abc\n2:cpuacct:/docker/abc\n1:cpu:/docker/abc\n0::/docker/abc', mounts);
  assert.deepEqual(dirs, { cpu: { dir: '/sys/fs/cgroup/cpuacct/docker/abc', v2: false }, memory: { dir: '/sys/fs/cgroup/memory/docker/abc', v2: false } });
});

test('cgroup v2 (systemd driver): one unified directory', () => {
  const mounts = cgroupMounts('29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate');
  assert.deepEqual(cgroupDirs('0::/system.slice/docker-abc.scope', mounts), { cpu: { dir: '/sys/fs/cgroup/system.slice/docker-abc.scope', v2: true }, memory: { dir: '/sys/fs/cgroup/system.slice/docker-abc.scope', v2: true } });
});

test('container groups by compose service', () => {
  assert.deepEqual(['realtime', 'redis', 'redis-2', 'sentinel-1', 'mongo', 'postgres', 'nginx', 'k6'].map(groupOf), ['replicas', 'redis', 'redis', 'redis', 'database', 'database', 'nginx', 'other']);
});

test('/proc/stat: busy is everything but idle and iowait', () => {
  assert.deepEqual(machineCpu('cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3'), { busyUs: 1_500_000, totalUs: 10_000_000 });
});

const scrape = (n: number, sum: number, b: [string, number][]) =>
  [...b.map(([le, c]) => `sb_message_insert_seconds_bucket{le="${le}",instance="r1"} ${c}`), `sb_message_insert_seconds_sum{instance="r1"} ${sum}`, `sb_message_insert_seconds_count{instance="r1"} ${n}`].join('\n');

test('histograms: the delta of two scrapes, its mean and an interpolated p99; absent ones are "not exported"', () => {
  const before = scrape(10, 0.1, [['0.01', 10], ['0.1', 10], ['+Inf', 10]]);
  const after = scrape(110, 2.1, [['0.01', 20], ['0.1', 110], ['+Inf', 110]]);
  const d = histogramDelta(histogram(before, 'sb_message_insert_seconds'), histogram(after, 'sb_message_insert_seconds')!);
  assert.equal(d.count, 100);
  assert.ok(Math.abs(quantile(d, 0.99)! - 0.099) < 1e-9);
  const t = serverTimings({ r1: before }, { r1: after });
  assert.deepEqual(t.insert, { count: 100, meanMs: 20, p99Ms: 99 });
  assert.equal(t.store, undefined);
});

test('the invalid-phase rule', () => {
  assert.equal(lagRule(12, 50), undefined);
  assert.equal(lagRule(50, 50), undefined);
  assert.equal(lagRule(51.5, 50), 'generator event-loop delay p99 51.5 ms > 50 ms');
});
