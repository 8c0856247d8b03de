import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import type { Socket } from 'socket.io';
import type { AuthService } from '../auth';
import { isAdmin } from '../auth/http';
import type { Logger } from '../infra/logger';
import type { RateLimiter } from '../ratelimit';
import type { AdminCredentials } from './credentials';
import type { AdminUiSessions } from './sessions';

export interface AdminHandshakeDeps {
  auth: AuthService;
  credentials: AdminCredentials;
  sessions: AdminUiSessions;
  limiter: RateLimiter;
  /** TRUST_PROXY: proxy hops whose X-Forwarded-For is believed, as for HTTP. */
  trustProxy: number;
  log: Logger;
}

/** The message the UI answers by showing its login form again. */
export const INVALID_CREDENTIALS = 'invalid credentials';

/** The client's address as Express sees it for HTTP (TRUST_PROXY hops of X-Forwarded-For). */
export function clientAddress(req: IncomingMessage, trustProxy: number): string {
  return proxyaddr(req, (_addr, hop) => hop < trustProxy);
}

/**
 * Who may open the admin namespace, in this order:
 * - `auth.token`: a live session whose token carries the `admin` role (scripts,
 *   tools; refused `unauthorized` or `forbidden` otherwise, like elsewhere);
 * - `auth.sessionId`: a session the UI got from an earlier password login;
 * - `auth.username` and `auth.password`: the UI's basic credentials. bcrypt
 *   runs only within the per-address `logins` limit.
 * Anything else is `invalid credentials`, which makes the UI ask again.
 */
export function adminHandshake({ auth, credentials, sessions, limiter, trustProxy, log }: AdminHandshakeDeps) {
  const admit = async (socket: Socket): Promise<string | undefined> => {
    const given = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const address = clientAddress(socket.request, trustProxy);
    if (given.token !== undefined) {
      const user = await auth.authenticate(given.token);
      if (!user) return 'unauthorized';
      if (!isAdmin(user)) return 'forbidden';
      const { userId, sessionId, name, roles, expiresAt } = user;
      socket.data.user = { userId, sessionId, name, roles, expiresAt };
      log.info({ userId, address }, 'admin UI: opened with an admin token');
      return undefined;
    }
    if (given.sessionId !== undefined) {
      if (await sessions.exists(given.sessionId)) return undefined;
      // A session that expired or was lost with Redis: the UI asks for the password.
      return INVALID_CREDENTIALS;
    }
    const checked = await credentials.check(given.username, given.password, async () => (await limiter.check('logins', `ip:${address}`)).allowed);
    if (checked === 'limited') return 'too many attempts from this address: wait a minute';
    if (checked === 'wrong') {
      log.warn({ address }, 'admin UI: wrong credentials');
      return INVALID_CREDENTIALS;
    }
    const sessionId = await sessions.create();
    // Buffered by the client until the connection is made, as the admin UI's own middleware does.
    if (sessionId) socket.emit('session', sessionId);
    log.info({ address }, 'admin UI: opened with the password');
    return undefined;
  };
  return (socket: Socket, next: (err?: Error) => void) => {
    admit(socket).then(
      (refusal) => next(refusal ? new Error(refusal) : undefined),
      (err: unknown) => {
        log.error({ err }, 'admin UI handshake failed');
        next(new Error(INVALID_CREDENTIALS));
      },
    );
  };
}
