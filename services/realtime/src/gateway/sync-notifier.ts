import type { MainServer } from './sockets';
import type { RedisConnections } from '../infra/redis';

/** How long Redis must stay settled before clients are told to sync. */
export const SYNC_SETTLE_MS = 1000;

/**
 * Tells this replica's clients to run `history:sync` once Redis has settled
 * after an outage (broadcasts made meanwhile reached local clients only) or,
 * on a cluster, after sharded subscriptions were re-issued (a slot move or a
 * failover). A failover brings several down/up and re-subscription events
 * within seconds; they are coalesced into one `sync:required`, sent when none
 * has followed for SYNC_SETTLE_MS, with `since` the start of the earliest gap,
 * so a thousand clients do not each sync four times.
 */
export function notifySyncAfterRedisGaps(io: Pick<MainServer, 'local'>, redis: RedisConnections, settleMs = SYNC_SETTLE_MS): void {
  let downSince: number | undefined;
  let pendingSince: number | undefined;
  let timer: NodeJS.Timeout | undefined;

  const schedule = (since: number) => {
    pendingSince = Math.min(pendingSince ?? since, since);
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!redis.isUp() || pendingSince === undefined) return;
      io.local.emit('sync:required', { reason: 'redis-recovered', ts: Date.now(), since: pendingSince });
      pendingSince = undefined;
    }, settleMs);
  };

  redis.on('down', () => {
    // A gap still waiting to be announced is part of this outage.
    downSince ??= pendingSince ?? Date.now();
    pendingSince = undefined;
    clearTimeout(timer);
  });
  redis.on('up', () => {
    if (downSince === undefined) return;
    schedule(downSince);
    downSince = undefined;
  });
  redis.on('resubscribed', (since: number) => {
    if (downSince === undefined) schedule(since);
  });
}
