// Unit test of the load test's options: node --import tsx --test lib/options.test.ts (npm test)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROFILES } from '../profiles';
import { OptionError, parseOptions } from './options';

test('nothing set: the standard profile, its scenarios, the bridge path', () => {
  const options = parseOptions({});
  assert.equal(options.profile, PROFILES.standard);
  assert.deepEqual([...options.scenarios], PROFILES.standard.scenarios);
  assert.equal(options.only, undefined);
  assert.equal(options.pathMode, 'bridge');
  assert.deepEqual([...options.skip], []);
  assert.deepEqual(options.variants, []);
  assert.equal(options.k6Network, false);
  assert.equal(options.redisAdapter, 'classic');
  assert.equal(options.redis, 'single');
  assert.equal(options.chaosAdapter, 'classic');
});

test('LT_REDIS picks the chaos stacks\' topology; a cluster gets the sharded adapter unless told another it takes', () => {
  assert.equal(parseOptions({ LT_REDIS: 'cluster' }).chaosAdapter, 'sharded');
  assert.equal(parseOptions({ LT_REDIS: 'cluster', REDIS_ADAPTER: 'streams' }).chaosAdapter, 'streams');
  assert.equal(parseOptions({ LT_REDIS: 'sentinel' }).chaosAdapter, 'classic');
  assert.equal(parseOptions({ LT_REDIS: '' }).redis, 'single');
  assert.throws(() => parseOptions({ LT_REDIS: 'cluster', REDIS_ADAPTER: 'classic' }), /classic pub\/sub is refused on a cluster/);
  assert.throws(() => parseOptions({ LT_REDIS: 'raft' }), (e: unknown) => e instanceof OptionError && /use single, cluster or sentinel/.test(e.message));
});

test('LT_FAULTS replaces the chaos matrix of the profile, in its order; an unknown fault is an OptionError', () => {
  const options = parseOptions({ PROFILE: 'smoke', LT_FAULTS: 'mongo,freeze' });
  assert.deepEqual(options.profile.chaos?.faults, ['mongo', 'freeze']);
  assert.equal(options.profile.chaos?.phaseS, PROFILES.smoke.chaos?.phaseS);
  assert.deepEqual(PROFILES.smoke.chaos?.faults, ['redis-cut']);
  assert.throws(() => parseOptions({ LT_FAULTS: 'flood' }), (e: unknown) => e instanceof OptionError && /Unknown fault "flood"/.test(e.message));
});

test('every variable is read', () => {
  const options = parseOptions({
    PROFILE: 'smoke',
    LT_ONLY: 'stock',
    LT_PATH: 'published',
    LT_SKIP: 'k6,artillery',
    LT_VARIANTS: 'sharded,polling',
    LT_K6_NETWORK: '1',
    REDIS_ADAPTER: 'sharded',
  });
  assert.equal(options.profile, PROFILES.smoke);
  assert.equal(options.only, 'stock');
  assert.equal(options.pathMode, 'published');
  assert.deepEqual([...options.skip], ['k6', 'artillery']);
  assert.deepEqual(options.variants, ['sharded', 'polling']);
  assert.equal(options.k6Network, true);
  assert.equal(options.redisAdapter, 'sharded');
});

test('LT_SCENARIOS replaces the profile list, LT_SKIP takes out of it', () => {
  assert.deepEqual([...parseOptions({ PROFILE: 'smoke', LT_SCENARIOS: 'chaos,paths' }).scenarios], ['chaos', 'paths']);
  assert.deepEqual([...parseOptions({ PROFILE: 'smoke', LT_SKIP: 'k6,artillery' }).scenarios], ['fanout', 'presence', 'storm', 'chat', 'chaos']);
  // empty entries are ignored, an empty list means the profile's
  assert.deepEqual([...parseOptions({ PROFILE: 'smoke', LT_SCENARIOS: ',' }).scenarios], PROFILES.smoke.scenarios);
});

test('any other LT_PATH is the bridge path', () => {
  assert.equal(parseOptions({ LT_PATH: 'bridge' }).pathMode, 'bridge');
  assert.equal(parseOptions({ LT_PATH: 'host' }).pathMode, 'bridge');
});

test('an unknown profile, scenario or target is an OptionError with exit code 2', () => {
  const rejects = (env: NodeJS.ProcessEnv, message: string) =>
    assert.throws(
      () => parseOptions(env),
      (error: unknown) => error instanceof OptionError && error.exitCode === 2 && error.message === message,
    );
  rejects({ PROFILE: 'huge' }, 'Unknown PROFILE "huge": use smoke, standard or capacity.');
  rejects({ PROFILE: 'constructor' }, 'Unknown PROFILE "constructor": use smoke, standard or capacity.');
  rejects({ LT_SCENARIOS: 'fanout,chatter' }, `Unknown scenario "chatter" in LT_SCENARIOS: use fanout, search, presence, k6, artillery, storm, chat, soak, chaos, capacity, variants, paths.`);
  rejects({ LT_ONLY: 'stok' }, 'Unknown target "stok" in LT_ONLY: use switchboard or stock.');
  rejects({ LT_STACK: 'local' }, 'LT_STACK=local runs the stock baseline only: set LT_ONLY=stock too.');
  rejects({ LT_STACK: 'k8s' }, 'Unknown LT_STACK "k8s": use compose (default) or local.');
  rejects({ LT_REPEATS: '0' }, 'LT_REPEATS must be a whole number of at least 1, not "0".');
  rejects({ LT_LITE: 'yes' }, 'LT_LITE must be 0 or 1, not "yes".');
});

test('LT_CPUSET: the stack and the generators on their own cores, or a plain error', () => {
  assert.equal(parseOptions({}).cpuset, undefined);
  assert.deepEqual(parseOptions({ LT_CPUSET: 'stack:0,generators:1' }).cpuset, { stack: '0', generators: '1' });
  assert.deepEqual(parseOptions({ LT_CPUSET: 'generators:2-3,stack:0-1' }).cpuset, { stack: '0-1', generators: '2-3' });
  for (const bad of ['stack:0', 'stack:a,generators:1', 'stack:0,generators:1,extra:2'])
    assert.throws(() => parseOptions({ LT_CPUSET: bad }), (e: unknown) => e instanceof OptionError && /LT_CPUSET must look like/.test(e.message));
});

test('development overrides of the profile: repeats, workers, listener client; the local stack', () => {
  const o = parseOptions({ PROFILE: 'standard', LT_REPEATS: '1', LT_WORKERS: '1', LT_LITE: '0', LT_ONLY: 'stock', LT_STACK: 'local' });
  assert.equal(o.profile.repeats, 1);
  assert.equal(o.profile.workers, 1);
  assert.equal(o.profile.liteListeners, false);
  assert.equal(o.stack, 'local');
  assert.equal(PROFILES.standard.repeats, 3, 'the profile itself is left alone');
  assert.equal(parseOptions({}).stack, 'compose');
});

test('the network: the profile\'s (standard: host, smoke: bridge), LT_NETWORK overrides it', () => {
  assert.equal(parseOptions({}).network, 'host');
  assert.equal(parseOptions({ PROFILE: 'smoke' }).network, 'bridge');
  assert.equal(parseOptions({ LT_NETWORK: 'bridge' }).network, 'bridge');
  assert.equal(parseOptions({ PROFILE: 'smoke', LT_NETWORK: 'host' }).network, 'host');
  assert.throws(() => parseOptions({ LT_NETWORK: 'macvlan' }), /Unknown LT_NETWORK "macvlan": use bridge or host\./);
});
