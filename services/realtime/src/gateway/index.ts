import type { Server as HttpServer } from 'node:http';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { Server } from 'socket.io';
import type { AuthService } from '../auth';
import type { Config } from '../config';
import type { Logger } from '../infra/logger';
import type { RedisConnections } from '../infra/redis';
import type { PresenceService } from '../presence';
import type { RateLimiter } from '../ratelimit';
import { sessionRoom, userRoom } from '@switchboard/protocol';
import { bindSessionLifetime, tokenAuth } from './auth-middleware';
import { countDeliveries } from './delivery-count';
import { limitHandshakesByAddress, SocketsPerUser } from './handshake-limits';
import { attachRoutes, checkRouteLimits, type AnyRoute, type RouterDeps } from './router';
import type { MainServer, MainSocket, SocketCapability } from './sockets';
import { notifySyncAfterRedisGaps } from './sync-notifier';

export type { MainServer, MainSocket, SocketCapability } from './sockets';

export interface SocketServerDeps {
  config: Config;
  instance: string;
  redis: RedisConnections;
  auth: AuthService;
  limiter: RateLimiter;
  /** Knows each user's connections on the other replicas (the cap on sockets per user). */
  presence: Pick<PresenceService, 'connectionsElsewhere'>;
  log: Logger;
}

/**
 * The adapter named by REDIS_ADAPTER (default: sharded on a cluster, classic
 * otherwise); every variant keeps its keys and channels under the prefix. On a
 * cluster, sharded pub/sub sends each room's messages to the one shard that
 * owns its channel instead of broadcasting every message over the cluster bus.
 */
function chooseAdapter(config: Config, redis: RedisConnections) {
  const prefix = `${config.REDIS_KEY_PREFIX}socket.io`;
  const onCluster = config.REDIS_MODE === 'cluster';
  switch (config.REDIS_ADAPTER) {
    case 'sharded':
      // "dynamic": one channel per public room, so rooms spread over the shards.
      return createShardedAdapter(redis.pub, redis.sub, { channelPrefix: prefix, subscriptionMode: 'dynamic' });
    case 'streams':
      // One stream key (one slot); its request/response channels use sharded pub/sub on a cluster.
      return createStreamsAdapter(redis.createStreamsClient(), { streamName: prefix, channelPrefix: prefix, useShardedPubSub: onCluster });
    default:
      return createAdapter(redis.pub, redis.sub, { key: prefix });
  }
}

/**
 * The Socket.IO server: Redis adapter for cross-replica broadcast, and at the
 * handshake the limit per address, the token check and the cap on a user's
 * connections, in that order.
 */
export function createSocketServer(httpServer: HttpServer, { config, instance, redis, auth, limiter, presence, log }: SocketServerDeps): MainServer {
  const io: MainServer = new Server(httpServer, {
    pingInterval: config.PING_INTERVAL_MS,
    pingTimeout: config.PING_TIMEOUT_MS,
    maxHttpBufferSize: 64 * 1024,
    cors: config.CORS_ORIGIN ? { origin: config.CORS_ORIGIN.split(',') } : undefined,
    adapter: chooseAdapter(config, redis),
  });

  // Long-polling responses say which replica answered, like every HTTP route.
  io.engine.on('initial_headers', (headers: Record<string, string>) => (headers['X-Served-By'] = instance));
  io.engine.on('headers', (headers: Record<string, string>) => (headers['X-Served-By'] = instance));

  // A user's connections: those other replicas hold (presence knows them), and this replica's own.
  const perUser = new SocketsPerUser(config.SOCKETS_PER_USER_MAX, (userId) => presence.connectionsElsewhere(userId), log);
  io.use(limitHandshakesByAddress(limiter, config.TRUST_PROXY, log));
  io.use(tokenAuth(auth));
  io.use(perUser.check);
  io.on('connection', (socket) => perUser.track(socket));
  bindSessionLifetime(io.of('/'));

  // Broadcasts made while Redis was away reached only local clients; once it is
  // back, tell ours to run history:sync for their rooms (persisted, then synced).
  notifySyncAfterRedisGaps(io, redis);
  return io;
}

/**
 * Every main-namespace connection joins its user's and its session's room,
 * gets the capabilities' routes (one table, an event routed twice is an
 * error at start), and runs their connect hooks in the order given and their
 * disconnect hooks in reverse.
 */
export function serveConnections(io: MainServer, capabilities: readonly SocketCapability[], deps: RouterDeps): void {
  const { log, metrics } = deps;
  const routes: Record<string, AnyRoute<MainSocket>> = {};
  for (const capability of capabilities) {
    for (const [event, route] of Object.entries<AnyRoute<MainSocket>>(capability.routes ?? {})) {
      if (Object.hasOwn(routes, event)) throw new Error(`socket event ${event} has two routes`);
      routes[event] = route;
    }
  }
  checkRouteLimits('/', routes);
  const leaving = [...capabilities].reverse();
  countDeliveries(io.of('/'), (event, recipients) => metrics.eventsOut.inc({ event }, recipients));

  io.on('connection', (socket) => {
    const { user } = socket.data;
    metrics.connections.inc();
    void socket.join([userRoom(user.userId), sessionRoom(user.sessionId)]);
    attachRoutes(socket, routes, deps);
    for (const capability of capabilities) capability.onConnect?.(socket);

    socket.on('disconnect', () => {
      metrics.connections.dec();
      void (async () => {
        for (const capability of leaving) await capability.onDisconnect?.(socket);
      })().catch((err) => log.warn({ err: (err as Error).message }, 'disconnect cleanup failed'));
    });
  });
}
