import type { EventEmitter } from 'node:events';
import ShardedSubscriber from 'ioredis/built/cluster/ShardedSubscriber';

/**
 * Works around a wedge in ioredis' sharded subscribers (5.11.1, and 6.0.0 has
 * the same code): `ShardedSubscriber.stop()` disconnects its connection and at
 * once removes every listener of it. When the connection is still between TCP
 * connect and ready (a node that just restarted, or a busy replica), the
 * `close` that would reject the pending `connect()` is emitted after those
 * listeners are gone, so `start()` never settles. The subscriber group awaits
 * that start inside `reset()`; its `isResetting` flag stays true forever and
 * every later reset is parked, so no SSUBSCRIBE is re-issued: after a Redis
 * outage the replica never receives a cross-replica broadcast again.
 *
 * The patch settles a pending start before the listeners go, by emitting the
 * `close` the disconnect would have emitted; the group then sees a failed
 * start, refreshes the slot map and builds a new subscriber.
 * test/integration/sharded-subscriber-stop.int.test.ts fails without it.
 */
interface ShardedSubscriberInternals {
  instance: EventEmitter | null;
  connectPromise: Promise<void> | null;
  stop(): void;
}

let applied: boolean | undefined;

/** Applies the patch once; false when this ioredis has no such method (then nothing is changed). */
export function settlePendingStartOnStop(): boolean {
  if (applied !== undefined) return applied;
  const proto = (ShardedSubscriber as unknown as { prototype?: Partial<ShardedSubscriberInternals> } | undefined)?.prototype;
  const stop = proto?.stop;
  if (!proto || typeof stop !== 'function') return (applied = false);
  proto.stop = function stopSettlingStart(this: ShardedSubscriberInternals) {
    if (this.instance && this.connectPromise) this.instance.emit('close');
    stop.call(this);
  };
  return (applied = true);
}
