import { Cluster, Redis, type ChainableCommander, type ClusterOptions, type RedisOptions } from 'ioredis';
import { settlePendingStartOnStop } from './ioredis-sharded-stop';
import { stopSlotsRefreshOnClose } from './ioredis-slots-timer';

/**
 * One place that knows how Redis is deployed. Every connection of the service
 * (commands, adapter pub/sub, the streams adapter, BullMQ) is built here, so a
 * replica runs unchanged on a single Redis, a Redis Cluster or a
 * Sentinel-managed primary; only REDIS_MODE and the addresses differ.
 */
export const REDIS_MODES = ['single', 'cluster', 'sentinel'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

/** A client of either kind: both have the same command API. */
export type RedisClient = Redis | Cluster;

export interface RedisAddress {
  host: string;
  port: number;
  tls: boolean;
  password?: string;
}

export interface RedisTopologyConfig {
  REDIS_MODE: RedisMode;
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: string;
  REDIS_SENTINELS?: string;
  REDIS_SENTINEL_NAME: string;
  REDIS_PASSWORD?: string;
}

/** How a connection behaves while Redis is away (see RedisConnections for who uses which). */
export interface ConnectionRole {
  name: string;
  /** false: a command fails at once while disconnected (callers fall back); true: it waits for the reconnect. */
  offlineQueue: boolean;
  /** ms, or undefined for none (blocking reads wait by design). */
  commandTimeout?: number;
  /** 1: one retry after a reconnect; null: retry forever (BullMQ requires it). */
  maxRetriesPerRequest: number | null;
  /**
   * Cluster: commands issued in the same tick travel as one pipeline per node,
   * so crossSlotBatch costs the round trips of a pipeline. Only for a
   * connection that never blocks: a blocking read would hold the commands
   * queued behind it (BullMQ's worker, the streams adapter's XREAD).
   */
  autoPipelining?: boolean;
}

const CONNECT_TIMEOUT_MS = 2000;
export const SLOTS_REFRESH_INTERVAL_MS = 1000;
// Reconnect forever, quickly at first, at most every 2 s.
const retryStrategy = (times: number) => Math.min(100 * times, 2000);

/**
 * Parses `host:port`, `redis://host:port` or `rediss://[:password@]host:port`
 * (rediss turns TLS on). Throws a message naming the bad entry.
 */
export function parseAddress(entry: string, defaultPort = 6379): RedisAddress {
  const text = entry.trim();
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `redis://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`"${entry}" is not host:port or a redis:// URL`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`"${entry}": only redis:// and rediss:// are supported`);
  if (!url.hostname) throw new Error(`"${entry}" has no host`);
  const port = url.port ? Number(url.port) : defaultPort;
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    tls: url.protocol === 'rediss:',
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

/** A comma list of addresses; every entry must agree on TLS (one cluster is all TLS or none). */
export function parseAddressList(list: string, defaultPort: number): RedisAddress[] {
  const entries = list.split(',').map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('is empty');
  const addresses = entries.map((e) => parseAddress(e, defaultPort));
  if (new Set(addresses.map((a) => a.tls)).size > 1) throw new Error('mixes redis:// and rediss:// entries');
  return addresses;
}

/** Builds the clients of one topology with the same fail-fast behaviour whatever the mode. */
export class RedisTopology {
  readonly mode: RedisMode;

  constructor(private readonly config: RedisTopologyConfig) {
    this.mode = config.REDIS_MODE;
  }

  create(role: ConnectionRole): RedisClient {
    const perConnection: RedisOptions = {
      connectTimeout: CONNECT_TIMEOUT_MS,
      connectionName: role.name,
      maxRetriesPerRequest: role.maxRetriesPerRequest,
      ...(role.commandTimeout ? { commandTimeout: role.commandTimeout } : {}),
    };
    switch (this.mode) {
      case 'cluster':
        return this.createCluster(role, perConnection);
      case 'sentinel':
        return this.createSentinel(role, perConnection);
      default: {
        const url = new URL(this.config.REDIS_URL);
        return new Redis(this.config.REDIS_URL, {
          ...perConnection,
          retryStrategy,
          enableOfflineQueue: role.offlineQueue,
          ...(this.config.REDIS_PASSWORD && !url.password ? { password: this.config.REDIS_PASSWORD } : {}),
        });
      }
    }
  }

  /** Where the service connects, for logs and /health (no passwords). */
  describe(): string {
    switch (this.mode) {
      case 'cluster':
        return this.clusterNodes().map((a) => `${a.host}:${a.port}`).join(',');
      case 'sentinel':
        return `${this.config.REDIS_SENTINEL_NAME}@${this.sentinels().map((a) => `${a.host}:${a.port}`).join(',')}`;
      default: {
        const url = new URL(this.config.REDIS_URL);
        return `${url.hostname}:${url.port || 6379}`;
      }
    }
  }

  private clusterNodes(): RedisAddress[] {
    return parseAddressList(this.config.REDIS_CLUSTER_NODES ?? '', 6379);
  }

  private sentinels(): RedisAddress[] {
    return parseAddressList(this.config.REDIS_SENTINELS ?? '', 26379);
  }

  private createCluster(role: ConnectionRole, perConnection: RedisOptions): Cluster {
    // Before any cluster client exists (see ioredis-sharded-stop.ts, ioredis-slots-timer.ts).
    settlePendingStartOnStop();
    stopSlotsRefreshOnClose();
    const nodes = this.clusterNodes();
    const tls = nodes[0].tls;
    const password = this.config.REDIS_PASSWORD ?? nodes.find((n) => n.password)?.password;
    const options: ClusterOptions = {
      // Cluster topology: refresh the slot map on MOVED, retry through
      // redirections and TRYAGAIN while a failover promotes a replica.
      clusterRetryStrategy: retryStrategy,
      enableOfflineQueue: role.offlineQueue,
      enableAutoPipelining: role.autoPipelining ?? false,
      // SSUBSCRIBE goes to the shard that owns the channel's slot, and is
      // re-issued there after a failover or a slot move (sharded adapter).
      shardedSubscribers: true,
      maxRedirections: 16,
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      retryDelayOnTryAgain: 200,
      slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
      // Re-read the slot map every second. The sharded subscriber connections
      // send no keyed command, so they never see MOVED: after a slot move or a
      // failover only this tells ioredis to re-issue SSUBSCRIBE on the new
      // owner (ioredis 5.11 does not refresh periodically by default).
      slotsRefreshInterval: SLOTS_REFRESH_INTERVAL_MS,
      redisOptions: {
        ...perConnection,
        ...(password ? { password } : {}),
        ...(tls ? { tls: {} } : {}),
      },
    };
    return new Cluster(
      nodes.map((n) => ({ host: n.host, port: n.port })),
      options,
    );
  }

  private createSentinel(role: ConnectionRole, perConnection: RedisOptions): Redis {
    const sentinels = this.sentinels();
    const tls = sentinels[0].tls;
    return new Redis({
      ...perConnection,
      sentinels: sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: this.config.REDIS_SENTINEL_NAME,
      role: 'master',
      // Ask the sentinels again on every reconnect: after a failover the new
      // primary is found without a restart; a demoted primary answering
      // READONLY makes ioredis reconnect (and re-resolve) at once.
      sentinelRetryStrategy: retryStrategy,
      retryStrategy,
      reconnectOnError: (err) => err.message.startsWith('READONLY'),
      enableOfflineQueue: role.offlineQueue,
      ...(this.config.REDIS_PASSWORD ? { password: this.config.REDIS_PASSWORD } : {}),
      ...(sentinels.find((s) => s.password) ? { sentinelPassword: sentinels.find((s) => s.password)!.password } : {}),
      // rediss:// sentinels: TLS to the sentinels and to the primary they name.
      ...(tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    });
  }
}

/** True for a Redis Cluster client: pipelines and MULTI must then keep to one hash tag. */
export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * A pipeline for commands on keys of different hash tags. On a single Redis
 * (or Sentinel primary) it is an ordinary pipeline. A cluster pipeline must
 * keep to keys of one node, so there the commands are sent one by one in the
 * same tick and auto-pipelining (the command connection's role) groups them
 * into one pipeline per node:
 * the same round trips, and the same `[error, result]` per command from exec().
 * Like a pipeline, it is not atomic; commands on one key keep their order.
 */
export function crossSlotBatch(client: RedisClient): ChainableCommander {
  if (!isCluster(client)) return client.pipeline();
  const queued: Array<() => Promise<unknown>> = [];
  const target = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const batch: ChainableCommander = new Proxy({} as ChainableCommander, {
    get(_t, method) {
      if (method === 'exec') {
        return async () =>
          Promise.all(queued.map((send) => send().then((result) => [null, result] as [null, unknown], (err: Error) => [err, null] as [Error, null])));
      }
      if (method === 'length') return queued.length;
      // Not a thenable: `await batch` must not call a command named "then".
      if (typeof method !== 'string' || method === 'then' || typeof target[method] !== 'function') return undefined;
      return (...args: unknown[]) => {
        queued.push(() => target[method](...args));
        return batch;
      };
    },
  });
  return batch;
}

/**
 * SCAN for maintenance jobs, never for a hot path: on a cluster every primary
 * holds its own part of the keyspace, so each one is scanned in turn.
 */
export async function* scanEveryPrimary(client: RedisClient, match: string, count = 200): AsyncGenerator<string[]> {
  const nodes = isCluster(client) ? client.nodes('master') : [client];
  for (const node of nodes) {
    for await (const batch of node.scanStream({ match, count }) as AsyncIterable<string[]>) {
      if (batch.length > 0) yield batch;
    }
  }
}
