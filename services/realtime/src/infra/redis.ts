import { EventEmitter } from 'node:events';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { settlePendingStartOnStop } from './ioredis-sharded-stop';
import { stopSlotsRefreshOnClose } from './ioredis-slots-timer';
import { redisFallback, type RedisFallback } from './redis-fallback';
import { crossSlotBatch, isCluster, SLOTS_REFRESH_INTERVAL_MS, type RedisClient, type RedisMode, type RedisTopology } from './redis-topology';

/** What /health says about Redis. */
export interface RedisHealth {
  mode: RedisMode;
  state: 'connected' | 'degraded' | 'disconnected';
  /** Sentinel: the primary this replica talks to now. */
  primary?: string;
  /** Cluster: primaries that answered the last probe (every second), of those in the slot map. */
  primaries?: { answering: number; total: number };
  /** Cluster: CLUSTER INFO's cluster_state (fail while slots have no primary). */
  clusterState?: string;
}

const HEALTH_PING_TIMEOUT_MS = 500;
/**
 * Cluster only: how often every primary is probed. A cluster client stays
 * `ready` while one shard fails over, so without the probe nothing would say
 * "down" then "up" (degraded /health, sync:required, presence re-assertion).
 */
const CLUSTER_PROBE_INTERVAL_MS = 1000;

/** How far back a re-subscription's gap may reach: two slot-map refreshes (redis-topology.ts refreshes every second). */
const RESUBSCRIBE_GAP_MS = 2 * SLOTS_REFRESH_INTERVAL_MS;

/** Redis Cluster has 16384 hash slots. */
const CLUSTER_SLOTS = 16384;

type ClusterProbe = Required<Pick<RedisHealth, 'primaries' | 'clusterState'>> & { ok: boolean };

/**
 * The four Redis connections of a replica and whether they work.
 *
 * - `command`: what a request waits on (a send's round trip, room joins,
 *   reads). Fails fast (no offline queue, a command timeout) so a handler
 *   never hangs on a dead or frozen Redis and can fall back to local state
 *   instead.
 * - `background`: the same fail-fast behaviour, for work nobody waits on:
 *   presence writes, heartbeats and the sweeper, session records, flushes of
 *   counters aggregated in memory, maintenance. A burst of it (a connect
 *   storm, a full presence re-assertion) then never queues ahead of a send.
 * - `pub`: the adapter's publisher. Fails fast too, so broadcasts do not pile up
 *   in memory during an outage; its rejections are caught here because the
 *   adapter does not await `publish`.
 * - `sub`: the adapter's subscriber. Keeps its queue, and ioredis re-subscribes
 *   every channel after a reconnect (autoResubscribe), which is what brings
 *   cross-replica delivery back by itself.
 *
 * Every client comes from RedisTopology, so the same holds on a single Redis,
 * a Redis Cluster and Sentinel (docs/operations.md, "Redis topologies").
 */
export class RedisConnections extends EventEmitter {
  readonly command: RedisClient;
  readonly background: RedisClient;
  readonly pub: RedisClient;
  readonly sub: RedisClient;
  /** Runs a Redis operation, or answers from local state when Redis is unavailable (counted in sb_redis_fallbacks_total). */
  readonly orLocal: RedisFallback;
  private up = false;
  private readonly extra: RedisClient[] = [];
  /** Cluster: the last probe of every primary (undefined until the first one answered). */
  private clusterProbe?: ClusterProbe;
  private probeTimer?: NodeJS.Timeout;

  constructor(readonly topology: RedisTopology, private readonly log: Logger, private readonly metrics: Metrics) {
    super();
    this.command = topology.create({ name: 'sb-command', offlineQueue: false, commandTimeout: 2000, maxRetriesPerRequest: 1, autoPipelining: true });
    this.background = topology.create({ name: 'sb-background', offlineQueue: false, commandTimeout: 2000, maxRetriesPerRequest: 1, autoPipelining: true });
    this.pub = topology.create({ name: 'sb-pub', offlineQueue: false, commandTimeout: 2000, maxRetriesPerRequest: 1 });
    this.sub = topology.create({ name: 'sb-sub', offlineQueue: true, maxRetriesPerRequest: null });
    this.orLocal = redisFallback(metrics.redisFallbacks);

    this.swallowPublishRejections();
    for (const [name, client] of this.entries()) {
      // Without an error listener a connection error would be thrown as an
      // uncaught 'error' event and end the process.
      client.on('error', (err: Error) => {
        this.metrics.redisErrors.inc({ client: name });
        this.log.debug({ err: err.message, client: name }, 'redis client error');
      });
      client.on('ready', () => this.updateState());
      client.on('close', () => this.updateState());
      client.on('end', () => this.updateState());
    }
    if (isCluster(this.command)) {
      if (!settlePendingStartOnStop()) {
        this.log.warn('this ioredis has no ShardedSubscriber.stop to patch: check ioredis-sharded-stop.ts still applies, or a Redis outage may stop cross-replica delivery');
      }
      if (!stopSlotsRefreshOnClose()) {
        this.log.warn('this ioredis has no Cluster.resetNodesRefreshInterval to patch: check ioredis-slots-timer.ts still applies, or a closed client may keep its process alive');
      }
      const cluster = this.command;
      this.probeTimer = setInterval(() => void this.probeCluster(cluster), CLUSTER_PROBE_INTERVAL_MS);
      this.probeTimer.unref();
      // Do not wait a whole interval for the first verdict.
      cluster.on('ready', () => void this.probeCluster(cluster));
      this.reportResubscriptions(this.sub as Cluster);
    }
  }

  /**
   * Cluster: a slot move or a failover drops the sharded subscriptions of the
   * slots concerned until ioredis re-issues them on the new owner (at its next
   * slot-map refresh): broadcasts in between are not delivered live. ioredis
   * says `subscribersReady` after each re-subscription, many times a second
   * while a failover lasts; once they have stopped for a refresh interval this
   * emits one `resubscribed` with when the gap may have begun.
   */
  private reportResubscriptions(sub: Cluster): void {
    let initial = true;
    let burstStart: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    sub.on('subscribersReady', () => {
      if (initial) return void (initial = false);
      burstStart ??= Date.now();
      clearTimeout(timer);
      timer = setTimeout(() => {
        const since = burstStart! - RESUBSCRIBE_GAP_MS;
        burstStart = undefined;
        // While Redis counts as down, the 'up' that ends the outage reports it.
        if (this.up) this.emit('resubscribed', since);
      }, SLOTS_REFRESH_INTERVAL_MS);
      timer.unref();
    });
  }


  /**
   * A connection for the streams adapter, which duplicates it for its blocking
   * XREAD loop. No command timeout: a blocking read waits by design. It keeps
   * an offline queue: the adapter retries a failed XREAD at once, and without
   * a queue that retry loop spins in microtasks and starves the reconnect; with
   * it, each retry waits for a reconnect attempt (maxRetriesPerRequest 1).
   */
  createStreamsClient(): RedisClient {
    const client = this.topology.create({ name: 'sb-streams', offlineQueue: true, maxRetriesPerRequest: 1 });
    client.on('error', () => this.metrics.redisErrors.inc({ client: 'streams' }));
    this.extra.push(client);
    return client;
  }

  /** A pipeline for keys of different hash tags (see crossSlotBatch). */
  batch(): ChainableCommander {
    return crossSlotBatch(this.command);
  }

  /** The same on the background connection. */
  backgroundBatch(): ChainableCommander {
    return crossSlotBatch(this.background);
  }

  /** True while all four connections are ready. */
  isUp(): boolean {
    return this.up;
  }

  /** Resolves once every client is ready, or rejects after `ms`. */
  async waitUntilUp(ms: number): Promise<void> {
    if (this.up) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('up', onUp);
        reject(new Error(`redis not ready after ${ms} ms`));
      }, ms);
      const onUp = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('up', onUp);
    });
  }

  /**
   * The state of the topology as this replica sees it. Cluster: every primary
   * of the slot map must answer and the cluster must say ok; during a failover
   * that is false until a replica is promoted and the slot map is refreshed.
   */
  async health(): Promise<RedisHealth> {
    const mode = this.topology.mode;
    if (isCluster(this.command)) {
      if (!this.entries().every(([, c]) => c.status === 'ready')) return { mode, state: 'disconnected' };
      const probe = this.clusterProbe ?? (await this.probeCluster(this.command));
      return { mode, state: probe.ok ? 'connected' : 'degraded', primaries: probe.primaries, clusterState: probe.clusterState };
    }
    if (!this.up) return { mode, state: 'disconnected' };
    const stream = (this.command as Redis).stream as { remoteAddress?: string; remotePort?: number } | undefined;
    const primary = mode === 'sentinel' && stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : undefined;
    return { mode, state: 'connected', ...(primary ? { primary } : {}) };
  }

  /**
   * PINGs the primary of every slot range and reads cluster_state; a change of
   * verdict updates isUp(). The owners come from the slot map, not from
   * `nodes('master')`: ioredis drops a primary whose connection closed from
   * that list until its next slot refresh, so a probe of the list alone would
   * miss the dead shard and say ok while its slots are unreachable.
   */
  private async probeCluster(cluster: Cluster): Promise<ClusterProbe> {
    const owners = new Set<string>();
    let uncovered = cluster.slots.length < CLUSTER_SLOTS;
    for (let slot = 0; slot < CLUSTER_SLOTS && !uncovered; slot++) {
      const owner = cluster.slots[slot]?.[0];
      if (owner) owners.add(owner);
      else uncovered = true;
    }
    const masters = new Map(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
    const answers = await Promise.all(
      [...owners].map((key) => {
        const node = masters.get(key);
        return node ? withTimeout(node.ping(), HEALTH_PING_TIMEOUT_MS).then(() => true, () => false) : Promise.resolve(false);
      }),
    );
    const answering = answers.filter(Boolean).length;
    // No answer is a verdict too: cluster_state "unknown", so not ok.
    const info = await withTimeout(cluster.cluster('INFO'), HEALTH_PING_TIMEOUT_MS).catch(() => '');
    const clusterState = /cluster_state:(\w+)/.exec(String(info))?.[1] ?? 'unknown';
    const probe = {
      ok: !uncovered && owners.size > 0 && answering === owners.size && clusterState === 'ok',
      primaries: { answering, total: owners.size },
      clusterState,
    };
    const changed = this.clusterProbe?.ok !== probe.ok;
    this.clusterProbe = probe;
    if (changed) this.updateState();
    return probe;
  }

  async close(): Promise<void> {
    clearInterval(this.probeTimer);
    const all = [...this.entries().map(([, c]) => c), ...this.extra];
    // QUIT fails on a connection that is already down: drop it instead.
    await Promise.allSettled(all.map((c) => c.quit().catch(() => c.disconnect())));
  }

  private entries(): Array<[string, RedisClient]> {
    return [
      ['command', this.command],
      ['background', this.background],
      ['pub', this.pub],
      ['sub', this.sub],
    ];
  }

  private updateState(): void {
    // Cluster: every connection ready is not enough; every shard must answer (probeCluster).
    const up = this.entries().every(([, c]) => c.status === 'ready') && (!isCluster(this.command) || this.clusterProbe?.ok === true);
    if (up === this.up) return;
    this.up = up;
    this.metrics.redisUp.set(up ? 1 : 0);
    this.log.info({ redis: up ? 'connected' : 'disconnected' }, up ? 'redis connected' : 'redis is unavailable');
    this.emit(up ? 'up' : 'down');
  }

  /** The adapter calls publish without awaiting it: count failures instead of leaking rejections. */
  private swallowPublishRejections(): void {
    for (const method of ['publish', 'spublish'] as const) {
      const target = this.pub as unknown as Record<string, (...args: unknown[]) => Promise<number>>;
      const original = target[method].bind(this.pub);
      target[method] = (...args: unknown[]) => {
        const result = original(...args);
        // Counted, and the caller still gets the rejection if it awaits.
        result.catch(() => {
          this.metrics.redisErrors.inc({ client: 'pub' });
          this.metrics.adapterPublishErrors.inc();
        });
        return result;
      };
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** ioredis reports per-command errors inside a MULTI/pipeline result instead of rejecting. */
export function throwOnMultiError(results: Array<[Error | null, unknown]> | null): Array<[Error | null, unknown]> {
  if (!results) throw new Error('transaction aborted');
  for (const [err] of results) if (err) throw err;
  return results;
}
