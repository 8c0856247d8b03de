import type { Socket } from 'socket.io';
import type { z } from 'zod';
import { toErrorBody } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import type { LimitClass, RateLimiter } from '../ratelimit';
import { parse } from '../infra/validation';

export type Ack = (response: unknown) => void;

export interface EventRoute<S extends z.ZodType = z.ZodType> {
  /** Payload schema; omit for events that take none (presence:heartbeat). */
  schema?: S;
  /** Throws FORBIDDEN when the socket may not do this; runs before the rate limit is charged. */
  authorize?(socket: Socket, payload: z.infer<S>): void;
  /** Rate-limit class charged after validation and authorization, per user across replicas. */
  limit?: LimitClass;
  /** Returns the ack's fields besides `ok`; throw AppError to answer an error. */
  handle(socket: Socket, payload: z.infer<S>): Promise<Record<string, unknown> | void>;
}

export interface RouterDeps {
  log: Logger;
  metrics: Metrics;
  limiter: RateLimiter;
  /** The rate-limit subject of a socket (its user id). */
  subjectOf: (socket: Socket) => string;
}

export function attachRoutes(socket: Socket, routes: Record<string, EventRoute>, deps: RouterDeps): void {
  const { metrics } = deps;
  for (const [event, route] of Object.entries(routes)) {
    socket.on(event, (...args: unknown[]) => {
      const ack = typeof args.at(-1) === 'function' ? (args.pop() as Ack) : undefined;
      void runRoute(socket, event, route, args[0], ack, deps);
    });
  }
  socket.onAny((event: unknown, ...args: unknown[]) => {
    if (typeof event === 'string' && Object.hasOwn(routes, event)) return;
    metrics.eventsIn.inc({ event: 'unknown', result: 'NOT_FOUND' });
    const ack = args.at(-1);
    if (typeof ack === 'function') {
      ack({ ok: false, error: { code: 'NOT_FOUND', message: `unknown event ${String(event).slice(0, 64)}` } });
    }
  });
}

/**
 * validate -> authorize -> rate-limit -> handle -> ack for every socket event. Whatever a client sends,
 * it gets `{ ok: true, ... }` or `{ ok: false, error: { code, message } }`
 * when it asked for an ack, and nothing it sends can throw out of a handler.
 */
async function runRoute(socket: Socket, event: string, route: EventRoute, raw: unknown, ack: Ack | undefined, deps: RouterDeps): Promise<void> {
  const { log, metrics, limiter } = deps;
  const started = process.hrtime.bigint();
  let response: unknown;
  try {
    // Flood protection first: it is local and cheap, and a flood of garbage
    // should be refused without even parsing it.
    await limiter.enforce('events', socket.id);
    const payload = route.schema ? parse(route.schema, raw) : raw;
    route.authorize?.(socket, payload);
    if (route.limit) await limiter.enforce(route.limit, deps.subjectOf(socket));
    const result = await route.handle(socket, payload);
    response = { ok: true, ...(result ?? {}) };
    metrics.eventsIn.inc({ event, result: 'ok' });
  } catch (err) {
    response = toErrorBody(err);
    const code = (response as { error: { code: string } }).error.code;
    metrics.eventsIn.inc({ event, result: code });
    if (code === 'INTERNAL') log.error({ err, event }, 'socket handler failed');
  }
  if (ack) {
    ack(response);
    metrics.ackLatency.observe({ event }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
