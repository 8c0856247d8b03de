import type { Counter } from 'prom-client';

/**
 * "Redis is down, use local state" (docs/operations.md), narrowed to Redis
 * being down: only the errors below fall back; anything else (a TypeError, a
 * WRONGTYPE, a Lua script error) is a bug and is rethrown.
 */

/** What ioredis rejects a command with when it cannot reach Redis or gives up waiting. */
const UNREACHABLE_MESSAGES = [
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  "Cluster isn't ready and enableOfflineQueue options is false",
  'Command timed out',
  'Command aborted due to connection close',
  'None of startup nodes is available',
  'Failed to refresh slots cache.',
  'Cluster is disconnected.',
  'Cluster is disconnecting.',
  'Node is disconnected',
  'Cluster is ended.',
];
/** Prefixes of messages that carry a detail (the last error, a retry delay). */
const UNREACHABLE_PREFIXES = ['Too many Cluster redirections.', 'All sentinels are unreachable'];
/** ioredis error classes (by name: ioredis may be installed twice, so instanceof would miss one). */
const UNREACHABLE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
/** Socket errors, as node reports them (err.code). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * Replies of a server that cannot take commands for now: loading its data,
 * a cluster without a primary for the slot, a failover in progress (READONLY:
 * the primary was demoted, ioredis reconnects to the new one; MOVED and ASK:
 * a slot moved under an auto-pipeline, which ioredis redirects only when all
 * its commands got the same error, and the next call follows the new slot
 * map), out of memory with noeviction, a script running too long.
 */
const UNAVAILABLE_REPLIES = new Set(['LOADING', 'CLUSTERDOWN', 'TRYAGAIN', 'MASTERDOWN', 'READONLY', 'MOVED', 'ASK', 'OOM', 'BUSY']);

/** True for the errors of a Redis that is down, unreachable or not serving for now; false for bugs. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (UNREACHABLE_NAMES.has(err.name)) return true;
  if (UNREACHABLE_MESSAGES.includes(err.message)) return true;
  if (UNREACHABLE_PREFIXES.some((p) => err.message.startsWith(p))) return true;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
  // A MULTI that Redis discarded (EXECABORT): unavailable when what it discarded it for was.
  const previous = (err as { previousErrors?: unknown[] }).previousErrors;
  if (Array.isArray(previous) && previous.length > 0) return previous.every(isRedisUnavailable);
  return err.name === 'ReplyError' && UNAVAILABLE_REPLIES.has(err.message.split(' ', 1)[0]);
}

/**
 * Runs a Redis operation, or answers with `local` (given the error) when Redis
 * is unavailable (isRedisUnavailable), counting it under `operation`. Every
 * other error is rethrown.
 */
export type RedisFallback = <T>(operation: string, work: () => Promise<T>, local: (err: Error) => T | Promise<T>) => Promise<T>;

export function redisFallback(fallbacks: Counter<'operation'>): RedisFallback {
  return async (operation, work, local) => {
    try {
      return await work();
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      fallbacks.inc({ operation });
      return local(err as Error);
    }
  };
}
