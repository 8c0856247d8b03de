/**
 * What a client needs to know of the service's limits (docs/protocol.md, "Limits"
 * and "Rate limits"). The caps are configurable: these are their defaults.
 */
export const DEFAULT_CAPS = {
  /** Live main-namespace connections of one user across replicas (SOCKETS_PER_USER_MAX). */
  socketsPerUser: 20,
  /** Chat rooms one socket is in at once (ROOMS_PER_SOCKET_MAX). */
  roomsPerSocket: 100,
  /** Users one socket is subscribed to by id at once (PRESENCE_IDS_PER_SOCKET_MAX). */
  presenceIdsPerSocket: 1000,
  /** Distinct @mentions in one message (MENTIONS_PER_MESSAGE_MAX). */
  mentionsPerMessage: 10,
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

const MENTION = /(?:^|[^A-Za-z0-9_.-])@([A-Za-z0-9_.-]{1,64})/g;

/** The distinct user ids a message text mentions (`@bob`; a trailing dot ends the sentence, not the id). */
export function mentionsIn(text: string): string[] {
  return [...new Set([...text.matchAll(MENTION)].map((m) => m[1].replace(/[.]+$/, '')))].filter(Boolean);
}
