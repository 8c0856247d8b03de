import type { RedisConnections } from '../infra/redis';
import { publishInOrder } from '../infra/publish-in-order';

/** Channels other services can SUBSCRIBE to (prefixed, e.g. "sb:events:presence"); payloads in docs/protocol.md. */
export const CHANNELS = {
  presence: 'events:presence',
  userStatus: 'events:user-status',
  room: 'events:room',
} as const;
export type Channel = keyof typeof CHANNELS;

/**
 * Publishes domain events on Redis pub/sub for listeners outside Socket.IO
 * (analytics, notification workers). Fire-and-forget on the fail-fast
 * publisher: an outage drops these notifications rather than queueing them.
 */
export class EventBus {
  constructor(private readonly redis: RedisConnections, private readonly prefix: string) {}

  channel(name: Channel): string {
    return this.prefix + CHANNELS[name];
  }

  publish(name: Channel, payload: unknown): void {
    if (!this.redis.isUp()) return;
    // Classic PUBLISH so listeners SUBSCRIBE on any node, also on a cluster; in order per channel.
    void this.redis.orLocal('events.publish', () => publishInOrder(this.redis.pub, this.channel(name), JSON.stringify(payload)), () => 0);
  }
}
