import { Cluster } from 'ioredis';

/**
 * Works around a timer that outlives a closed ioredis Cluster (5.11.1; 6.0.0
 * has the same code). With `slotsRefreshInterval` set, each periodic slot-map
 * refresh arms the next one from its completion callback, and that callback
 * runs whatever the refresh's outcome. `quit()` or `disconnect()` clears the
 * pending timer, but when a refresh is in flight at that moment its callback
 * fires afterwards (with "Cluster is disconnecting.") and arms a new timer.
 * Nothing clears that one: every second it refreshes against no nodes, fails,
 * and arms the next, so a closed client keeps its process alive for good.
 * That is what held a finished Jest run open after the Redis Cluster pass.
 *
 * The patch re-arms only while the client is not being closed on purpose.
 * test/integration/ioredis-slots-timer.int.test.ts fails without it.
 */
interface ClusterInternals {
  slotsTimer: NodeJS.Timeout | null;
  manuallyClosing: boolean;
  options: { slotsRefreshInterval?: number };
  refreshSlotsCache(callback?: (err?: Error) => void): void;
  resetNodesRefreshInterval(): void;
}

let applied: boolean | undefined;

/** Applies the patch once; false when this ioredis has no such method (then nothing is changed). */
export function stopSlotsRefreshOnClose(): boolean {
  if (applied !== undefined) return applied;
  const proto = (Cluster as unknown as { prototype?: Partial<ClusterInternals> }).prototype;
  if (!proto || typeof proto.resetNodesRefreshInterval !== 'function') return (applied = false);
  proto.resetNodesRefreshInterval = function resetNodesRefreshIntervalUntilClosed(this: ClusterInternals) {
    if (this.slotsTimer || !this.options.slotsRefreshInterval) return;
    const interval = this.options.slotsRefreshInterval;
    const nextRound = () => {
      // Quit or disconnected for good while a refresh was in flight: arm nothing, so a later connect() can start again.
      if (this.manuallyClosing) {
        this.slotsTimer = null;
        return;
      }
      this.slotsTimer = setTimeout(() => this.refreshSlotsCache(() => nextRound()), interval);
    };
    nextRound();
  };
  return (applied = true);
}
