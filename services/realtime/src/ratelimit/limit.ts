/** A limit: at most `limit` hits in any sliding window of `windowMs`. */
export interface Limit {
  limit: number;
  windowMs: number;
}

/**
 * Per-user classes: every socket event names one (gateway/router.ts), charged
 * to its user across replicas and namespaces.
 */
export const USER_LIMIT_CLASSES = ['messages', 'joins', 'presence', 'typing', 'location', 'history', 'dispatch', 'orders'] as const;
export type UserLimitClass = (typeof USER_LIMIT_CLASSES)[number];
/** Per-address classes: logins, the other /api routes, and Socket.IO handshakes (a namespace connect). */
export const ADDRESS_LIMIT_CLASSES = ['logins', 'http', 'handshakes'] as const;
export type AddressLimitClass = (typeof ADDRESS_LIMIT_CLASSES)[number];
/** `events`: per socket, every event, in the replica's memory (flood protection). */
export type LimitClass = UserLimitClass | AddressLimitClass | 'events';

export const isUserLimitClass = (cls: unknown): cls is UserLimitClass => (USER_LIMIT_CLASSES as readonly unknown[]).includes(cls);

/** "20/10s" -> { limit: 20, windowMs: 10000 } */
export function parseLimit(spec: string): Limit {
  const m = /^(\d+)\/(\d+)(ms|s|m)$/.exec(spec.trim());
  if (!m) throw new Error(`rate limit "${spec}" must look like 20/10s (count/window with ms, s or m)`);
  const unit = { ms: 1, s: 1000, m: 60_000 }[m[3] as 'ms' | 's' | 'm'];
  const limit = Number(m[1]);
  const windowMs = Number(m[2]) * unit;
  if (limit < 1 || windowMs < 1) throw new Error(`rate limit "${spec}" needs a count and a window above 0`);
  return { limit, windowMs };
}
