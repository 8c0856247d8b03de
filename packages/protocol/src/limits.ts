/**
 * What a client needs to know of the service's limits (docs/protocol.md, "Limits"
 * and "Rate limits"). The caps are configurable: these are their defaults.
 */
export const DEFAULT_CAPS = {
  /** Live main-namespace connections of one user across replicas (SOCKETS_PER_USER_MAX). */
  socketsPerUser: 20,
} as const;

/**
 * The `message` of a refused handshake's `connect_error`. A refusal by a limit
 * also carries the contract's error in `err.data`: `{ code: 'RATE_LIMITED',
 * message, retryAfterMs }` for too many handshakes from one address, `{ code:
 * 'RATE_LIMITED', message, max }` for too many connections of one user.
 */
export const CONNECT_ERRORS = {
  unauthorized: 'unauthorized',
  rateLimited: 'rate limited',
  tooManyConnections: 'too many connections',
} as const;
