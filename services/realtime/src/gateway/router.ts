import type { Socket } from 'socket.io';
import type { z } from 'zod';
import { toErrorBody } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import { parse } from '../infra/validation';
import type { Ack, AckResponse, EventContract, SessionUser } from '@switchboard/protocol';
import { isUserLimitClass, USER_LIMIT_CLASSES, type RateLimiter, type UserLimitClass } from '../ratelimit';

/** The payload a handler gets: the schema's output, or nothing for an event without schema. */
type Parsed<C extends EventContract> = C extends { schema: infer S extends z.ZodType } ? z.output<S> : undefined;
/** An event without reply fields may return nothing. */
type Reply<C extends EventContract> = Record<never, never> extends C['reply'] ? C['reply'] | void : C['reply'];

/** How one event of a protocol contract (packages/protocol/src/events.ts) is served on socket type S. */
export type EventRoute<C extends EventContract, S> = (C extends { schema: infer Schema } ? { schema: Schema } : { schema?: undefined }) & {
  /** Throws FORBIDDEN when the socket may not do this; runs before the rate limit is charged. */
  authorize?(socket: S, payload: Parsed<C>): void;
  /** The per-user rate-limit class charged after validation and authorization, across replicas: every route names one. */
  limit: UserLimitClass;
  /** Returns the ack's fields besides `ok`; throw AppError to answer an error. */
  handle(socket: S, payload: Parsed<C>): Promise<Reply<C>>;
};

/** Every event of a contract table with its route. */
export type RouteTable<T extends Record<keyof T, EventContract>, S> = { [E in keyof T]: EventRoute<T[E], S> };

/** A route with its types erased, as the router runs it; every RouteTable's routes are one. */
export interface AnyRoute<S> {
  schema?: z.ZodType;
  authorize?(socket: S, payload: unknown): void;
  limit: UserLimitClass;
  handle(socket: S, payload: unknown): Promise<object | void>;
}

/**
 * Refuses, at start-up, a route table in which an event names no per-user
 * rate-limit class (or one that does not exist): a new event cannot forget its limit.
 */
export function checkRouteLimits(namespace: string, routes: Readonly<Record<string, object>>): void {
  for (const [event, route] of Object.entries(routes)) {
    if (!isUserLimitClass((route as { limit?: unknown }).limit)) {
      throw new Error(`socket event ${event} of namespace ${namespace} names no rate-limit class (limit: one of ${USER_LIMIT_CLASSES.join(', ')})`);
    }
  }
}

/** Any namespace's socket whose handshake (auth-middleware.ts) put the session's user in `socket.data`. */
type AuthedSocket = { id: string; data: { user: SessionUser } };

export interface RouterDeps {
  log: Logger;
  metrics: Metrics;
  limiter: RateLimiter;
}

/**
 * Serves `routes` on one socket; any other event is answered NOT_FOUND. One
 * listener per socket looks every event up by name, rather than a listener
 * per event and socket: a connection then costs one closure, not one per route.
 */
export function attachRoutes<S extends AuthedSocket>(socket: S, routes: Readonly<Record<string, AnyRoute<S>>>, deps: RouterDeps): void {
  const { metrics } = deps;
  // The protocol's typed event maps stop at this layer, which looks events up by name.
  const untyped = socket as unknown as Socket;
  untyped.onAny((event: unknown, ...args: unknown[]) => {
    const ack = typeof args.at(-1) === 'function' ? (args.pop() as Ack) : undefined;
    if (typeof event === 'string' && Object.hasOwn(routes, event)) {
      void runRoute(socket, event, routes[event], args[0], ack, deps);
      return;
    }
    metrics.eventsIn.inc({ event: 'unknown', result: 'NOT_FOUND' });
    ack?.({ ok: false, error: { code: 'NOT_FOUND', message: `unknown event ${String(event).slice(0, 64)}` } });
  });
}

/**
 * flood limit -> validate -> authorize -> per-user limit -> handle -> ack for every socket event. Whatever a client sends,
 * it gets `{ ok: true, ... }` or `{ ok: false, error: { code, message } }`
 * when it asked for an ack, and nothing it sends can throw out of a handler.
 */
async function runRoute<S extends AuthedSocket>(socket: S, event: string, route: AnyRoute<S>, raw: unknown, ack: Ack | undefined, deps: RouterDeps): Promise<void> {
  const { log, metrics, limiter } = deps;
  const started = process.hrtime.bigint();
  let response: AckResponse;
  try {
    // Flood protection first: it is local and cheap, and a flood of garbage
    // should be refused without even parsing it.
    await limiter.enforce('events', socket.id);
    const payload = route.schema ? parse(route.schema, raw) : raw;
    route.authorize?.(socket, payload);
    await limiter.enforce(route.limit, `user:${socket.data.user.userId}`);
    const result = await route.handle(socket, payload);
    response = { ok: true, ...(result ?? {}) };
    metrics.eventsIn.inc({ event, result: 'ok' });
  } catch (err) {
    response = toErrorBody(err);
    const { code } = response.error;
    metrics.eventsIn.inc({ event, result: code });
    if (code === 'INTERNAL') log.error({ err, event }, 'socket handler failed');
  }
  if (ack) {
    ack(response);
    metrics.ackLatency.observe({ event }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
