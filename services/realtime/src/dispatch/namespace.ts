import type { Namespace, Socket } from 'socket.io';
import type { AuthService } from '../auth';
import type { Config } from '../config';
import { bindSessionLifetime, tokenAuth } from '../gateway/auth-middleware';
import { attachRoutes, type RouteTable } from '../gateway/router';
import type { MainServer } from '../gateway/sockets';
import { AppError } from '../infra/errors';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import type { RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import type { JobQueue } from '../jobs';
import type { RateLimiter } from '../ratelimit';
import {
  dispatchSchemas,
  dispatchUserRoom,
  type DispatchClientToServerEvents,
  type DispatchRequests,
  type DispatchServerToClientEvents,
  type DispatchSocketData,
} from '@switchboard/protocol';
import { DispatchService } from './service';
import { DispatchStore } from './store';

export interface DispatchDeps {
  config: Config;
  nodeId: string;
  redis: RedisConnections;
  keys: Keyspace;
  jobs: JobQueue;
  auth: AuthService;
  limiter: RateLimiter;
  log: Logger;
  metrics: Metrics;
}

type DispatchNamespace = Namespace<DispatchClientToServerEvents, DispatchServerToClientEvents, Record<string, never>, DispatchSocketData>;
type DispatchSocket = Socket<DispatchClientToServerEvents, DispatchServerToClientEvents, Record<string, never>, DispatchSocketData>;

/**
 * The /dispatch namespace: providers go online with a location and get offers, customers
 * create, update and cancel orders (docs/protocol.md, "Dispatch namespace"). Same handshake
 * auth as the main namespace and the same router (validation, acks, rate limits, metrics).
 * Call before jobs.start(): it registers the offer-timeout job handler.
 */
export function registerDispatch(io: MainServer, deps: DispatchDeps): { nsp: DispatchNamespace; service: DispatchService; stop(): void } {
  const { config, redis, keys, jobs, auth, limiter, log, metrics, nodeId } = deps;
  // Socket.IO types every namespace with the server's event maps; /dispatch has its own.
  const nsp = io.of('/dispatch') as unknown as DispatchNamespace;
  const store = new DispatchStore(redis, keys, config.PRESENCE_TTL_MS);
  const service = new DispatchService(
    store,
    jobs,
    redis,
    {
      toUser(userId, event, ...payload) {
        metrics.broadcasts.inc({ event });
        nsp.to(dispatchUserRoom(userId)).emit(event, ...payload);
      },
    },
    { offerTimeoutMs: config.DISPATCH_OFFER_TIMEOUT_MS, radiusKm: config.DISPATCH_RADIUS_KM, nodeId },
    log.child({ component: 'dispatch' }),
  );

  // Providers whose socket is on this replica: their records are kept alive from here. A
  // liveness list only; the state itself is in Redis.
  const localProviders = new Map<string, string>(); // socketId -> userId
  // Redis away: the next refresh (or the record's TTL) mends it, so only a debug line; anything else is a bug.
  const logFailure = (err: unknown, what: string) =>
    isRedisUnavailable(err) || (err instanceof AppError && err.code === 'UNAVAILABLE') ? log.debug({ err: (err as Error).message }, what) : log.error({ err }, what);
  const refresh = setInterval(() => {
    if (!redis.isUp() || localProviders.size === 0) return;
    store.refreshProviders([...new Set(localProviders.values())]).catch((err) => logFailure(err, 'provider refresh failed'));
  }, config.PRESENCE_REFRESH_MS);
  refresh.unref();

  nsp.use(tokenAuth(auth));
  // Logout, revoke and expiry end /dispatch sockets too (a session's room in this namespace).
  bindSessionLifetime(nsp as unknown as Namespace);

  const userOf = (socket: DispatchSocket) => socket.data.user.userId;

  const routes: RouteTable<DispatchRequests, DispatchSocket> = {
    'provider:online': {
      schema: dispatchSchemas.providerOnline,
      async handle(socket, p) {
        const { provider, offer } = await service.online(userOf(socket), socket.id, p);
        localProviders.set(socket.id, provider.userId);
        return offer ? { provider, offer } : { provider };
      },
    },
    'provider:location': {
      schema: dispatchSchemas.providerLocation,
      async handle(socket, p) {
        return { provider: await service.location(userOf(socket), socket.id, p) };
      },
    },
    'provider:offline': {
      async handle(socket) {
        const userId = userOf(socket);
        await service.offline(userId);
        for (const [sid, uid] of localProviders) if (uid === userId) localProviders.delete(sid);
      },
    },
    'order:create': {
      schema: dispatchSchemas.orderCreate,
      async handle(socket, { pickup, radiusKm, clientOrderId }) {
        return await service.create(userOf(socket), pickup, radiusKm, clientOrderId);
      },
    },
    'order:update': {
      schema: dispatchSchemas.orderUpdate,
      async handle(socket, { orderId, pickup, radiusKm }) {
        return { order: await service.update(userOf(socket), orderId, pickup, radiusKm) };
      },
    },
    'order:cancel': {
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.cancel(userOf(socket), orderId) };
      },
    },
    'order:get': {
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.get(userOf(socket), orderId) };
      },
    },
    'offer:accept': {
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.accept(userOf(socket), orderId) };
      },
    },
    'offer:decline': {
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.decline(userOf(socket), orderId) };
      },
    },
    'order:complete': {
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.complete(userOf(socket), orderId) };
      },
    },
  };

  nsp.on('connection', (socket) => {
    const userId = userOf(socket);
    void socket.join(dispatchUserRoom(userId));
    attachRoutes(socket, routes, { log, metrics, limiter });
    socket.on('disconnect', (reason) => {
      const wasProvider = localProviders.delete(socket.id);
      // A client that says goodbye goes offline now; a dropped connection (network, replica
      // restart) keeps its record for PRESENCE_TTL_MS so the provider can reconnect and send
      // provider:online again without losing a pending offer or its order.
      if (wasProvider && reason === 'client namespace disconnect' && ![...localProviders.values()].includes(userId)) {
        service.offline(userId).catch((err) => logFailure(err, 'provider offline on disconnect failed'));
      }
    });
  });

  return { nsp, service, stop: () => clearInterval(refresh) };
}
