import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { CONNECT_ERRORS, type SessionUser } from '@switchboard/protocol';
import type { Logger } from '../infra/logger';
import type { RateLimiter } from '../ratelimit';

type Next = (err?: Error) => void;

/**
 * The client's address as the HTTP routes see it: TRUST_PROXY hops of
 * X-Forwarded-For are believed (Express's `trust proxy` with a hop count), so
 * a client reaching the service directly cannot choose its address.
 */
export function clientAddress(req: IncomingMessage, trustProxy: number): string {
  return proxyaddr(req, (_addr, hop) => hop < trustProxy);
}

/** A refused handshake: `connect_error` with this message, and the contract's error in `err.data`. */
function refusal(message: string, data: Record<string, unknown>): Error {
  return Object.assign(new Error(message), { data: { code: 'RATE_LIMITED', message, ...data } });
}

/**
 * Handshakes per client address (RATE_LIMIT_HANDSHAKES), before the token is
 * even verified: a connect storm from one address is refused at the cost of
 * one rate-limit check each. Over the limit: `connect_error` `rate limited`.
 */
export function limitHandshakesByAddress(limiter: RateLimiter, trustProxy: number, log: Logger) {
  return (socket: { request: IncomingMessage }, next: Next) => {
    limiter.check('handshakes', `ip:${clientAddress(socket.request, trustProxy)}`).then(
      (d) => next(d.allowed ? undefined : refusal(CONNECT_ERRORS.rateLimited, { retryAfterMs: d.retryAfterMs })),
      (err: unknown) => {
        log.error({ err }, 'handshake rate limit failed');
        next(new Error('internal error'));
      },
    );
  };
}

/** What the cap needs of a socket: its user (after the token check), its id and its disconnect. */
interface UserSocket {
  id: string;
  data: { user?: SessionUser };
  once(event: 'disconnect', fn: () => void): unknown;
}

/**
 * At most `max` connections per user in one namespace: after the token check,
 * a handshake is refused with `connect_error` `too many connections` when the
 * user's connections on the other replicas (`elsewhere`) and on this one have
 * reached it. This replica's are counted in memory as they connect and close,
 * with those admitted whose connection event has not come yet (a tick after
 * the middleware): a burst of one user's handshakes on one replica passes no
 * further than the cap. Two replicas admitting the same user at the same
 * moment can each let one through.
 */
export class SocketsPerUser {
  private readonly here = new Map<string, number>();
  /** Admitted by the middleware, connection not seen yet: per user, their socket ids. */
  private readonly admitted = new Map<string, Set<string>>();

  constructor(
    private readonly max: number,
    private readonly elsewhere: (userId: string) => number | Promise<number>,
    private readonly log: Logger,
  ) {}

  /** The handshake middleware, after tokenAuth. */
  readonly check = (socket: UserSocket, next: Next): void => {
    const userId = socket.data.user?.userId;
    if (userId === undefined) return next(new Error(CONNECT_ERRORS.unauthorized));
    Promise.resolve(this.elsewhere(userId)).then(
      (others) => {
        const admitted = this.admitted.get(userId) ?? new Set<string>();
        if (others + (this.here.get(userId) ?? 0) + admitted.size >= this.max) return next(refusal(CONNECT_ERRORS.tooManyConnections, { max: this.max }));
        admitted.add(socket.id);
        this.admitted.set(userId, admitted);
        // Socket.IO emits the connection a tick after next(), or never (the client left): either way it is over by then.
        setImmediate(() => this.settle(userId, socket.id));
        next();
      },
      (err: unknown) => {
        this.log.error({ err }, "counting a user's connections failed");
        next(new Error('internal error'));
      },
    );
  };

  /** On connection: counted here until it disconnects. */
  track(socket: UserSocket & { data: { user: SessionUser } }): void {
    const { userId } = socket.data.user;
    this.settle(userId, socket.id);
    this.here.set(userId, (this.here.get(userId) ?? 0) + 1);
    socket.once('disconnect', () => {
      const left = (this.here.get(userId) ?? 1) - 1;
      if (left > 0) this.here.set(userId, left);
      else this.here.delete(userId);
    });
  }

  private settle(userId: string, socketId: string): void {
    const admitted = this.admitted.get(userId);
    if (admitted?.delete(socketId) && admitted.size === 0) this.admitted.delete(userId);
  }
}
