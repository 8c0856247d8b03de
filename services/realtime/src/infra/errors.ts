import type { ErrorBody, ErrorCode } from '@switchboard/protocol';
import { isRedisUnavailable } from './redis-fallback';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  VALIDATION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** An error a client may see: its code and message go out in the ack or response. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** Turns anything thrown into the wire shape; unknown errors never leak their text. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof AppError) {
    return { ok: false, error: { code: err.code, message: err.message, ...err.details } };
  }
  return { ok: false, error: { code: 'INTERNAL', message: 'internal error' } };
}

/**
 * What a route that needs Redis answers while Redis is unavailable
 * (isRedisUnavailable): UNAVAILABLE with `message` instead of INTERNAL.
 * Anything else is rethrown.
 */
export async function orUnavailable<T>(work: () => Promise<T>, message: string): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!isRedisUnavailable(err)) throw err;
    throw new AppError('UNAVAILABLE', message);
  }
}
