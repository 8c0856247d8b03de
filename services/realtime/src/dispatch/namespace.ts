import type { Namespace, Socket } from 'socket.io';
import type { AuthService } from '../auth';
import { bindSessionLifetime, tokenAuth } from '../gateway/auth-middleware';
import { limitHandshakesByAddress, SocketsPerUser } from '../gateway/handshake-limits';
import { attachRoutes, checkRouteLimits, type RouteTable } from '../gateway/router';
import type { MainServer } from '../gateway/sockets';
import { AppError } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import { isRedisUnavailable } from '../infra/redis-fallback';
import type { RateLimiter } from '../ratelimit';
import {
  dispatchSchemas,
  dispatchUserRoom,
  type DispatchClientToServerEvents,
  type DispatchRequests,
  type DispatchServerToClientEvents,
  type DispatchSocketData,
} from '@switchboard/protocol';
import type { Dispatch } from './index';

export interface DispatchDeps {
  dispatch: Dispatch;
  auth: AuthService;
  limiter: RateLimiter;
  log: Logger;
  metrics: Metrics;
  /** Proxy hops whose X-Forwarded-For is believed (TRUST_PROXY): the handshake limit per address. */
  trustProxy: number;
  /** A user's /dispatch connections on one replica (SOCKETS_PER_USER_MAX). */
  maxSocketsPerUser: number;
}

export type DispatchNamespace = Namespace<DispatchClientToServerEvents, DispatchServerToClientEvents, Record<string, never>, DispatchSocketData>;
type DispatchSocket = Socket<DispatchClientToServerEvents, DispatchServerToClientEvents, Record<string, never>, DispatchSocketData>;

/**
 * The /dispatch namespace: providers go online with a location and get offers, customers
 * create, update and cancel orders (docs/protocol.md, "Dispatch namespace"). Same handshake
 * auth as the main namespace and the same router (validation, acks, rate limits, metrics).
 */
export function registerDispatch(io: MainServer, deps: DispatchDeps): DispatchNamespace {
  const { dispatch, auth, limiter, log, metrics } = deps;
  const { service } = dispatch;
  // Socket.IO types every namespace with the server's event maps; /dispatch has its own.
  const nsp = io.of('/dispatch') as unknown as DispatchNamespace;
  dispatch.notifier.nsp = nsp;
  // Providers whose socket is on this replica, with their last location: kept alive from here.
  const localProviders = dispatch.providers;
  // Redis away: the provider's record mends itself (its TTL, its next provider:online), so only a debug line; anything else is a bug.
  const logFailure = (err: unknown, what: string) =>
    isRedisUnavailable(err) || (err instanceof AppError && err.code === 'UNAVAILABLE') ? log.debug({ err: (err as Error).message }, what) : log.error({ err }, what);

  // The main namespace's handshake limits: per address, then the token, then the user's connections, here
  // counted on this replica only (presence knows main-namespace connections only).
  const perUser = new SocketsPerUser(deps.maxSocketsPerUser, () => 0, log);
  nsp.use(limitHandshakesByAddress(limiter, deps.trustProxy, log));
  nsp.use(tokenAuth(auth));
  nsp.use(perUser.check);
  // Logout, revoke and expiry end /dispatch sockets too (a session's room in this namespace).
  bindSessionLifetime(nsp as unknown as Namespace);

  const userOf = (socket: DispatchSocket) => socket.data.user.userId;

  const routes: RouteTable<DispatchRequests, DispatchSocket> = {
    'provider:online': {
      limit: 'dispatch',
      schema: dispatchSchemas.providerOnline,
      async handle(socket, p) {
        const { provider, offer } = await service.online(userOf(socket), socket.id, p);
        localProviders.set(socket.id, provider.userId, p);
        return offer ? { provider, offer } : { provider };
      },
    },
    'provider:location': {
      limit: 'location',
      schema: dispatchSchemas.providerLocation,
      async handle(socket, p) {
        const provider = await service.location(userOf(socket), socket.id, p);
        localProviders.moved(socket.id, p);
        return { provider };
      },
    },
    'provider:offline': {
      limit: 'dispatch',
      async handle(socket) {
        const userId = userOf(socket);
        // Forgotten first, so no keep-alive tick announces the provider again meanwhile.
        localProviders.dropUser(userId);
        await service.offline(userId);
      },
    },
    'order:create': {
      limit: 'orders',
      schema: dispatchSchemas.orderCreate,
      async handle(socket, { pickup, radiusKm, clientOrderId }) {
        return await service.create(userOf(socket), pickup, radiusKm, clientOrderId);
      },
    },
    'order:update': {
      limit: 'dispatch',
      schema: dispatchSchemas.orderUpdate,
      async handle(socket, { orderId, pickup, radiusKm }) {
        return { order: await service.update(userOf(socket), orderId, pickup, radiusKm) };
      },
    },
    'order:cancel': {
      limit: 'dispatch',
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.cancel(userOf(socket), orderId) };
      },
    },
    'order:get': {
      limit: 'dispatch',
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.get(userOf(socket), orderId) };
      },
    },
    'offer:accept': {
      limit: 'dispatch',
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.accept(userOf(socket), orderId) };
      },
    },
    'offer:decline': {
      limit: 'dispatch',
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.decline(userOf(socket), orderId) };
      },
    },
    'order:complete': {
      limit: 'dispatch',
      schema: dispatchSchemas.orderRef,
      async handle(socket, { orderId }) {
        return { order: await service.complete(userOf(socket), orderId) };
      },
    },
  };

  checkRouteLimits('/dispatch', routes);

  nsp.on('connection', (socket) => {
    const userId = userOf(socket);
    perUser.track(socket);
    void socket.join(dispatchUserRoom(userId));
    attachRoutes(socket, routes, { log, metrics, limiter });
    socket.on('disconnect', (reason) => {
      const wasProvider = localProviders.drop(socket.id);
      // A client that says goodbye goes offline now; a dropped connection (network, replica
      // restart) keeps its record for PRESENCE_TTL_MS so the provider can reconnect and send
      // provider:online again without losing a pending offer or its order.
      if (wasProvider && reason === 'client namespace disconnect' && !localProviders.holds(userId)) {
        service.offline(userId).catch((err) => logFailure(err, 'provider offline on disconnect failed'));
      }
    });
  });

  return nsp;
}
