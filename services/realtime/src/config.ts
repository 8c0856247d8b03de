import { z } from 'zod';
import { parseLimit } from './ratelimit/limit';
import { resolveSecretFiles } from './infra/secrets';

/**
 * Every setting the service reads, with its default. The README's configuration
 * table mirrors this file; keep them in step.
 */
const ms = (def: number) => z.coerce.number().int().positive().default(def);
const limitSpec = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      try {
        return parseLimit(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().default('0.0.0.0'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    /** Replica name in logs, /health and X-Served-By; derived from the container name when unset. */
    INSTANCE_NAME: z.string().min(1).max(64).optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
    REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]{0,32}$/).default('sb:'),
    /** How broadcasts cross replicas: classic pub/sub, sharded pub/sub (SPUBLISH, Redis 7), or Redis streams. */
    REDIS_ADAPTER: z.enum(['classic', 'sharded', 'streams']).default('classic'),
    MONGO_URL: z.string().min(1).default('mongodb://127.0.0.1:27017/switchboard'),
    /** How long a MongoDB operation may wait for a server before it answers UNAVAILABLE. */
    MONGO_TIMEOUT_MS: ms(3000),

    /** HMAC secret for login tokens. Must be set (>= 16 chars) in production. */
    AUTH_SECRET: z.string().min(16).default('switchboard-dev-secret-change-me'),
    SESSION_TTL_SEC: z.coerce.number().int().positive().default(24 * 3600),

    PRESENCE_TTL_MS: ms(30_000),
    PRESENCE_REFRESH_MS: ms(10_000),
    PRESENCE_SWEEP_MS: ms(5_000),

    PING_INTERVAL_MS: ms(25_000),
    PING_TIMEOUT_MS: ms(20_000),
    SHUTDOWN_TIMEOUT_MS: ms(8_000),
    CORS_ORIGIN: z.string().default(''),

    /** Sliding-window limits, "count/window" (ms, s or m). Per user unless noted. */
    RATE_LIMIT_MESSAGES: limitSpec('20/10s'),
    RATE_LIMIT_JOINS: limitSpec('30/60s'),
    /** Per client IP (X-Forwarded-For from nginx). */
    RATE_LIMIT_LOGINS: limitSpec('60/60s'),
    /** Per client IP, every /api route but login. */
    RATE_LIMIT_HTTP: limitSpec('600/60s'),
    /** Per socket, every event: flood protection, kept in the replica's memory. */
    RATE_LIMIT_EVENTS: limitSpec('100/1s'),

    /** A message mentioning @user reminds that user if they have not written in the room after this delay. */
    REMINDER_DELAY_MS: ms(10 * 60_000),
    CLEANUP_INTERVAL_MS: ms(5 * 60_000),
    WARMUP_INTERVAL_MS: ms(60_000),
    WARMUP_ROOMS: z.coerce.number().int().min(0).max(1000).default(10),
    JOBS_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),

    MESSAGE_MAX_CHARS: ms(4000),
    HISTORY_SYNC_MAX: ms(500),
    REGION_PRECISION: z.coerce.number().int().min(1).max(12).default(5),

    // ---- Dispatch (/dispatch namespace, src/dispatch) ----
    /** How long a provider has to accept an offer before it goes to the next nearest provider. */
    DISPATCH_OFFER_TIMEOUT_MS: ms(15_000),
    /** Search radius of an order when the customer gives none (order:create radiusKm, at most 100). */
    DISPATCH_RADIUS_KM: z.coerce.number().positive().max(100).default(5),
  })
  .superRefine((c, ctx) => {
    if (c.PRESENCE_TTL_MS < 2 * c.PRESENCE_REFRESH_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['PRESENCE_TTL_MS'],
        message: 'must be at least twice PRESENCE_REFRESH_MS, or a slow refresh would flap users offline',
      });
    }
    if (c.NODE_ENV === 'production' && c.AUTH_SECRET === 'switchboard-dev-secret-change-me') {
      ctx.addIssue({ code: 'custom', path: ['AUTH_SECRET'], message: 'set a real secret in production' });
    }
  });

export type Config = z.infer<typeof configSchema>;

/** Parses the environment; throws one readable error naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let resolved: NodeJS.ProcessEnv;
  try {
    // AUTH_SECRET_FILE, REDIS_URL_FILE, MONGO_URL_FILE, REDIS_PASSWORD_FILE (infra/secrets.ts).
    resolved = resolveSecretFiles(env);
  } catch (err) {
    throw new Error(`Invalid configuration:\n  ${(err as Error).message}`);
  }
  const parsed = configSchema.safeParse(resolved);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
