/// <reference path="../types/cluster-key-slot.d.ts" />
import slotOf from 'cluster-key-slot';
import { isCluster, type RedisClient } from './redis-topology';

/**
 * PUBLISH (classic pub/sub) that keeps one publisher's order on a cluster.
 * A cluster client sends a keyless command to any node, so two messages could
 * reach a subscriber by two paths, out of order; here every message of a
 * channel leaves through the primary that owns the channel's slot (any node
 * forwards PUBLISH to the whole cluster, in order per link).
 */
export function publishInOrder(client: RedisClient, channel: string, message: string): Promise<number> {
  if (!isCluster(client)) return client.publish(channel, message);
  const owner = client.slots[slotOf(channel)]?.[0];
  const node = owner ? client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner) : undefined;
  return (node ?? client).publish(channel, message);
}
