// The hash-slot function ioredis' Cluster client routes with.
import slotOf from 'cluster-key-slot';
import { Cache } from '../../src/cache';
import { DispatchStore } from '../../src/dispatch/store';
import { Keyspace } from '../../src/infra/keys';
import { bullPrefix } from '../../src/jobs';
import { pendingRemindersKey, Reminders } from '../../src/jobs/reminders';
import { RecentWindow } from '../../src/chat/recent-window';
import { PresenceService } from '../../src/presence';
import { RoomsService } from '../../src/rooms';
import { SocketSessions } from '../../src/sessions';

const keys = new Keyspace('sb:');
/** An instance of a capability class with only its key builders' state (they read this.keys and the like). */
const builders = <T>(cls: abstract new (...args: never[]) => T, state: Record<string, unknown>): T => Object.assign(Object.create(cls.prototype), { keys, ...state });

/**
 * Keys that one Lua script, MULTI or single-slot pipeline touches together,
 * each group built by the capability's own key builders. On a cluster every
 * group must map to one slot, or Redis answers CROSSSLOT.
 */
function keysUsedTogether(): Record<string, string[]> {
  const presence = builders(PresenceService, {});
  const rooms = builders(RoomsService, { kind: 'room' });
  const regions = builders(RoomsService, { kind: 'region' });
  const cache = builders(Cache, {});
  const sessions = builders(SocketSessions, {});
  const reminders = builders(Reminders, {});
  const window = builders(RecentWindow, {});
  const dispatch = builders(DispatchStore, { zone: 'default' });
  const bull = bullPrefix(keys.prefix);
  return {
    'presence stateOf pipeline': [presence['connsKey']('ann'), presence['statusKey']('ann')],
    'presence node entries': [presence['nodeConnsKey']('n1')],
    'room join/leave pipeline (same key)': [rooms['membersKey']('lobby')],
    'region pipeline (same key)': [regions['membersKey']('u09tv')],
    'cache invalidate: version bump + tag members': [cache['tagVersionKey']('room:lobby'), cache['tagKey']('room:lobby')],
    'cache lock script': [`${cache['valueKey']('history:lobby')}:lock`],
    'socket session hash': [sessions['key']('sock-1')],
    'reminder pending MULTI': [reminders['pendingKey']('lobby', 'ann')],
    "a send's window script (window + the sender's pending reminders there)": [window['key']('lobby'), pendingRemindersKey(keys, 'lobby', 'ann')],
    'rate limit script': [keys.tagged('rl', 'messages:ann')],
    'auth login MULTI (session)': [keys.plain('session', 'abc')],
    'auth login MULTI (user sessions)': [keys.tagged('u', 'ann', 'sessions')],
    'dispatch scripts (providers, offers, orders)': [
      dispatch.geoKey(),
      dispatch.providerKey('p1'),
      dispatch.providerKey('p2'),
      dispatch.orderKey('o1'),
      dispatch.triedKey('o1'),
      dispatch.epochKey(),
      dispatch.outboxKey(),
    ],
    // BullMQ's scripts touch several keys of a queue: "<prefix>:<queue>:<kind>".
    'BullMQ queue keys': ['wait', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'meta', 'events', 'id', 'repeat', 'marker', 'job-1'].map(
      (kind) => `${bull}:switchboard:${kind}`,
    ),
  };
}

describe('cluster hash slots', () => {
  it.each(Object.entries(keysUsedTogether()))('%s: one slot', (_name, group) => {
    const slots = new Set(group.map(slotOf));
    expect([...slots]).toHaveLength(1);
  });

  it('puts the whole BullMQ prefix in one hash tag, derived from REDIS_KEY_PREFIX', () => {
    expect(bullPrefix('sb:')).toBe('{sb}:bull');
    expect(bullPrefix('team-a:')).toBe('{team-a}:bull');
    expect(bullPrefix('')).toBe('{sb}:bull');
  });

  it('would notice keys without a shared tag (the check can fail)', () => {
    // The online-users index and a user's connections are written in the same
    // batch but never in one script: on a cluster they live on different slots.
    const presence = builders(PresenceService, {});
    expect(slotOf(keys.plain('presence', 'users'))).not.toBe(slotOf(presence['connsKey']('ann')));
  });
});
