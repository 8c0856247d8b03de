/** The error codes of the protocol contract (docs/protocol.md, "Errors"). */
export const ERROR_CODES = [
  'VALIDATION',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** What a failed ack or HTTP response carries; RATE_LIMITED adds `retryAfterMs`. */
export interface ErrorBody {
  ok: false;
  error: { code: ErrorCode; message: string } & Record<string, unknown>;
}
