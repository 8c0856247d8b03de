import { instrument } from '@socket.io/admin-ui';
import type { Router } from 'express';
import type { Namespace, Server } from 'socket.io';
import type { AuthService } from '../auth';
import type { Config } from '../config';
import { bindSessionLifetime } from '../gateway/auth-middleware';
import type { LimitBy } from '../http/guards';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import type { RedisConnections } from '../infra/redis';
import type { RateLimiter } from '../ratelimit';
import type { AdminCredentials } from './credentials';

export { AdminCredentials } from './credentials';
import { adminHandshake } from './handshake';
import { adminUiRouter } from './http';
import { AdminUiSessions } from './sessions';

/** The namespace the UI connects to (its default). */
export const ADMIN_NAMESPACE = '/admin';

export interface AdminUiDeps {
  config: Config;
  instance: string;
  redis: RedisConnections;
  keys: Keyspace;
  auth: AuthService;
  limiter: RateLimiter;
  log: Logger;
}

/**
 * The official Socket.IO admin UI (@socket.io/admin-ui): its namespace on
 * every replica, each under its own server id, and its page at /admin/.
 * The UI's socket reaches one replica; what the others report reaches it
 * through the Redis adapter (their stats and, in development mode, their
 * sockets, rooms and events), so it shows the whole cluster.
 */
export class AdminUi {
  private readonly sessions: AdminUiSessions;

  /** `credentials`: AdminCredentials.fromConfig(), when it found a password or hash (the UI is off otherwise). */
  constructor(
    private readonly deps: AdminUiDeps,
    private readonly credentials: AdminCredentials,
  ) {
    this.sessions = new AdminUiSessions(deps.redis, deps.keys, deps.config.SESSION_TTL_SEC);
  }

  router(limitBy: LimitBy): Router {
    const { auth, limiter } = this.deps;
    return adminUiRouter({ auth, credentials: this.credentials, limiter, limitBy });
  }

  /**
   * Instruments the server: call it after the server exists and before the
   * capabilities attach their connection handlers (main namespace and others).
   */
  instrument(io: Server): void {
    const { config, instance, auth, limiter, log } = this.deps;
    const mode = config.ADMIN_UI_MODE;
    // auth: false here because the namespace gets our own check below (token with the admin
    // role, UI session in Redis, or bcrypt within a rate limit). Read-only: the UI's join and
    // leave would bypass the rooms' membership in Redis, and its emit sends any event unchecked.
    instrument(io, { auth: false, namespaceName: ADMIN_NAMESPACE, readonly: true, serverId: instance, mode });
    const nsp = io.of(ADMIN_NAMESPACE);
    nsp.use(adminHandshake({ auth, credentials: this.credentials, sessions: this.sessions, limiter, trustProxy: config.TRUST_PROXY, log }));
    // Sockets opened with a token end with their session, like in every namespace.
    bindSessionLifetime(nsp);
    if (mode === 'development') keepSocketDataPlain(io);
    log.info({ mode, namespace: ADMIN_NAMESPACE, serverId: instance }, 'admin UI on');
  }
}

/**
 * In development mode the UI swaps each new socket's `data` for a Proxy that
 * announces every write and wraps every value written in a Proxy too; a
 * Promise or a Map stored there then fails on its own methods (chat keeps a
 * socket's send chain in `data`). This runs right after the UI's own
 * connection listener and before the capabilities' ones: they get a plain
 * copy, which the UI still reads when it lists sockets.
 */
function keepSocketDataPlain(io: Server): void {
  const plain = (nsp: Namespace) => nsp.on('connection', (socket) => (socket.data = { ...socket.data }));
  io._nsps.forEach(plain);
  io.on('new_namespace', plain);
}
