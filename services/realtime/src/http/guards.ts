import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '../infra/errors';
import type { LimitClass, RateLimiter } from '../ratelimit';

/** A middleware charging the client's address to a rate-limit class. */
export type LimitBy = (cls: LimitClass) => RequestHandler;

/** What a capability's router puts in front of its routes: the address's rate limit, the Bearer token, and for operators' views the admin role. */
export interface RouteGuards {
  limitBy: LimitBy;
  requireAuth: RequestHandler;
  /** After requireAuth: 403 FORBIDDEN unless the token carries the admin role. */
  requireAdmin: RequestHandler;
}

/** 429 with Retry-After (seconds) and the contract's body when the client's address is over its limit. */
export function limitByAddress(limiter: RateLimiter): LimitBy {
  return (cls) => async (req: Request, res: Response, next: NextFunction) => {
    const d = await limiter.check(cls, `ip:${req.ip ?? 'unknown'}`);
    if (d.allowed) return next();
    res.setHeader('Retry-After', String(Math.ceil(d.retryAfterMs / 1000)));
    throw new AppError('RATE_LIMITED', `too many requests, retry in ${d.retryAfterMs} ms`, { retryAfterMs: d.retryAfterMs });
  };
}
