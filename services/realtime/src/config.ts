import { z } from 'zod';
import { DEFAULT_CAPS } from '@switchboard/protocol';
import { parseLimit } from './ratelimit/limit';
import { resolveSecretFiles } from './infra/secrets';
import { parseAddressList, REDIS_MODES } from './infra/redis-topology';

/**
 * Every setting the service reads, with its default. The README's configuration
 * table mirrors this file; keep them in step.
 */
const ADAPTERS = ['classic', 'sharded', 'streams'] as const;
export type AdapterKind = (typeof ADAPTERS)[number];

const ms = (def: number) => z.coerce.number().int().positive().default(def);
const bool = (def: 'true' | 'false') =>
  z
    .enum(['true', 'false'], 'must be true or false')
    .default(def)
    .transform((v) => v === 'true');
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

    /** How Redis is deployed: one server (REDIS_URL), a Redis Cluster (REDIS_CLUSTER_NODES) or Sentinel (REDIS_SENTINELS). */
    REDIS_MODE: z.enum(REDIS_MODES).default('single'),
    REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
    /** Cluster seed nodes, comma-separated `host:port` or redis:// / rediss:// URLs (rediss: TLS). */
    REDIS_CLUSTER_NODES: z.string().optional(),
    /** Sentinels, comma-separated `host:port` (or rediss:// URLs: TLS to sentinels and primary). */
    REDIS_SENTINELS: z.string().optional(),
    REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
    /** Password of the Redis data nodes in every mode (or REDIS_PASSWORD_FILE). */
    REDIS_PASSWORD: z.string().min(1).optional(),
    REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]{0,32}$/).default('sb:'),
    /** How broadcasts cross replicas: classic pub/sub, sharded pub/sub (SPUBLISH, Redis 7), or Redis streams. Default: sharded on a cluster, classic otherwise. */
    REDIS_ADAPTER: z.enum(ADAPTERS).optional(),
    /** Short alias of REDIS_ADAPTER; setting both to different values is an error. */
    ADAPTER: z.enum(ADAPTERS).optional(),
    MONGO_URL: z.string().min(1).default('mongodb://127.0.0.1:27017/switchboard'),
    /** How long a MongoDB operation may wait for a server before it answers UNAVAILABLE. */
    MONGO_TIMEOUT_MS: ms(3000),
    /**
     * Connections to MongoDB per replica. Writes are grouped, so few are
     * needed; FerretDB's SQLite backend deadlocks when its 100 connections per
     * database are all busy, so keep replicas x this under 100 there.
     */
    MONGO_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(10),

    // ---- Authentication (src/auth, docs/protocol.md "Authentication") ----
    /** HMAC key of the demo login's own tokens; a dev secret when unset outside production, none in production. */
    AUTH_SECRET: z.string().min(16).optional(),
    /** The identity provider's keys: a JWKS file, or one PEM public key (RS256, ES256 or EdDSA tokens). */
    AUTH_JWKS_FILE: z.string().min(1).optional(),
    AUTH_PUBLIC_KEY_FILE: z.string().min(1).optional(),
    /** Required `iss` and `aud` of identity-provider tokens (both required in production). */
    AUTH_ISSUER: z.string().min(1).optional(),
    AUTH_AUDIENCE: z.string().min(1).optional(),
    /** Leeway for `exp` and `nbf` of identity-provider tokens. */
    AUTH_CLOCK_SKEW_SEC: z.coerce.number().int().min(0).max(600).default(30),
    /** The claim holding a token's roles (an array, or a space-separated string); dots walk into objects. */
    AUTH_ROLES_CLAIM: z.string().regex(/^[A-Za-z0-9_:/.-]{1,128}$/).default('roles'),
    /** POST /api/login with any user id, no password: for development and tests only. */
    AUTH_DEMO_LOGIN: bool('false'),
    /** The one way to keep demo login on with NODE_ENV=production: the words `yes-i-know`. */
    AUTH_DEMO_LOGIN_IN_PRODUCTION: z.string().optional(),
    /** Demo-login user ids that get the admin role (comma-separated); only with demo login. */
    AUTH_DEMO_ADMINS: z.string().default(''),
    SESSION_TTL_SEC: z.coerce.number().int().positive().default(24 * 3600),

    // ---- The Socket.IO admin UI (src/admin, docs/operations.md "The admin UI") ----
    /** Its password (or ADMIN_UI_PASSWORD_FILE): setting it, or the hash, turns the admin UI on. */
    ADMIN_UI_PASSWORD: z
      .string()
      .min(12, 'must be at least 12 characters')
      .refine((v) => Buffer.byteLength(v) <= 72, 'must be at most 72 bytes (bcrypt reads no further)')
      .optional(),
    /** A bcrypt hash of its password instead (or ADMIN_UI_PASSWORD_HASH_FILE). */
    ADMIN_UI_PASSWORD_HASH: z
      .string()
      .regex(/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/, 'must be a bcrypt hash ($2b$10$... from bcrypt or htpasswd -B)')
      .optional(),
    ADMIN_UI_USERNAME: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/).default('admin'),
    /**
     * development: every socket, its rooms and every event are shown (and cost a broadcast each);
     * production: servers and counts only. Default: production when NODE_ENV=production.
     */
    ADMIN_UI_MODE: z.enum(['development', 'production']).optional(),

    PRESENCE_TTL_MS: ms(30_000),
    PRESENCE_REFRESH_MS: ms(10_000),
    PRESENCE_SWEEP_MS: ms(5_000),

    PING_INTERVAL_MS: ms(25_000),
    PING_TIMEOUT_MS: ms(20_000),
    SHUTDOWN_TIMEOUT_MS: ms(8_000),
    CORS_ORIGIN: z.string().default(''),
    /** The internal listener serving /metrics (never proxied by nginx; the main port's /metrics is 404). */
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
    METRICS_HOST: z.string().default('0.0.0.0'),
    /**
     * How many proxies in front of the service to believe about the client's address
     * (X-Forwarded-For): 1 behind nginx or an ingress. 0 (the default) believes none, so a
     * client reaching the service directly cannot pick its own address for per-address limits.
     */
    TRUST_PROXY: z.coerce.number().int().min(0).max(10).default(0),

    /**
     * Sliding-window limits, "count/window" (ms, s or m). Per user across replicas and
     * namespaces unless noted; every socket event is charged to one of these classes.
     */
    RATE_LIMIT_MESSAGES: limitSpec('20/10s'),
    /** room:join, room:leave, presence:subscribe, presence:unsubscribe. */
    RATE_LIMIT_JOINS: limitSpec('30/60s'),
    /** presence:set (fans out to every subscriber) and presence:heartbeat. */
    RATE_LIMIT_PRESENCE: limitSpec('30/60s'),
    RATE_LIMIT_TYPING: limitSpec('20/10s'),
    /** region:update and the dispatch provider:location. */
    RATE_LIMIT_LOCATION: limitSpec('60/60s'),
    /** history:sync (each may read MongoDB). */
    RATE_LIMIT_HISTORY: limitSpec('60/60s'),
    /** Every /dispatch event but order:create and provider:location. */
    RATE_LIMIT_DISPATCH: limitSpec('120/60s'),
    /** order:create: each order keeps a Redis record for a day and a job. */
    RATE_LIMIT_ORDERS: limitSpec('10/60s'),
    /** Per client address (X-Forwarded-For from the proxies TRUST_PROXY names). */
    RATE_LIMIT_LOGINS: limitSpec('60/60s'),
    /** Per client IP, every /api route but login. */
    RATE_LIMIT_HTTP: limitSpec('600/60s'),
    /** Per client IP, every Socket.IO handshake (a connect to either namespace). */
    RATE_LIMIT_HANDSHAKES: limitSpec('300/60s'),
    /** Per socket, every event: flood protection, kept in the replica's memory. */
    RATE_LIMIT_EVENTS: limitSpec('100/1s'),

    // ---- Caps on what one user or connection holds (docs/protocol.md "Limits") ----
    /** Live main-namespace connections per user across replicas (and /dispatch connections per user on each replica). */
    SOCKETS_PER_USER_MAX: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_CAPS.socketsPerUser),
    /** Chat rooms one socket may be in at once. */
    ROOMS_PER_SOCKET_MAX: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_CAPS.roomsPerSocket),
    /** Users one socket may be subscribed to by id (presence:subscribe userIds) at once. */
    PRESENCE_IDS_PER_SOCKET_MAX: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_CAPS.presenceIdsPerSocket),
    /** Distinct @mentions one message may carry (each may schedule a reminder). */
    MENTIONS_PER_MESSAGE_MAX: z.coerce.number().int().min(1).max(1000).default(DEFAULT_CAPS.mentionsPerMessage),

    /** A message mentioning @user reminds that user if they have not written in the room after this delay. */
    REMINDER_DELAY_MS: ms(10 * 60_000),
    /** A kept reminder is deleted this long after its mention, delivered or not (by the cleanup job). */
    REMINDER_RETENTION_MS: ms(7 * 24 * 3600_000),
    CLEANUP_INTERVAL_MS: ms(5 * 60_000),
    WARMUP_INTERVAL_MS: ms(60_000),
    WARMUP_ROOMS: z.coerce.number().int().min(0).max(1000).default(10),
    JOBS_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),

    MESSAGE_MAX_CHARS: ms(4000),
    HISTORY_SYNC_MAX: ms(500),
    /** Newest messages kept per room in Redis for history pages and history:sync (0: always read MongoDB). */
    HISTORY_WINDOW: z.coerce.number().int().min(0).max(10_000).default(200),
    /** A room's window is dropped this long after its last message (refilled from MongoDB on the next read). */
    HISTORY_WINDOW_TTL_MS: ms(10 * 60_000),
    REGION_PRECISION: z.coerce.number().int().min(1).max(12).default(5),

    // ---- Dispatch (/dispatch namespace, src/dispatch) ----
    /** How long a provider has to accept an offer before it goes to the next nearest provider. */
    DISPATCH_OFFER_TIMEOUT_MS: ms(15_000),
    /** Search radius of an order when the customer gives none (order:create radiusKm, at most 100). */
    DISPATCH_RADIUS_KM: z.coerce.number().positive().max(100).default(5),
    /**
     * Order transitions the Redis outbox may hold while MongoDB is away before order:create
     * answers UNAVAILABLE (steps on existing orders go on): bounds the outbox's memory.
     */
    DISPATCH_OUTBOX_MAX: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
  })
  .superRefine((c, ctx) => {
    if (c.PRESENCE_TTL_MS < 2 * c.PRESENCE_REFRESH_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['PRESENCE_TTL_MS'],
        message: 'must be at least twice PRESENCE_REFRESH_MS, or a slow refresh would flap users offline',
      });
    }
    checkRedisTopology(c, ctx);
    checkAuth(c, ctx);
    checkAdminUi(c, ctx);
  });

type ParsedConfig = z.infer<typeof configSchema>;

/** The parsed configuration, with the adapter resolved from REDIS_ADAPTER, ADAPTER or the mode. */
export type Config = Omit<ParsedConfig, 'REDIS_ADAPTER' | 'ADAPTER' | 'ADMIN_UI_MODE'> & {
  REDIS_ADAPTER: AdapterKind;
  ADMIN_UI_MODE: 'development' | 'production';
};

/** The HMAC key outside production when AUTH_SECRET is unset. */
export const DEV_AUTH_SECRET = 'switchboard-dev-secret-change-me';
/**
 * Every secret this repository ships (schema, compose, .env.example, Kubernetes
 * example): public, so refused in production whatever their length.
 */
export const SHIPPED_SECRETS = new Set([
  DEV_AUTH_SECRET,
  'switchboard-dev-secret-do-not-use-in-production',
  'REPLACE-with-openssl-rand-base64-48',
]);
/** Placeholder words of example values: a secret holding one was copied, not made. */
const PLACEHOLDER_WORDS = /replace|change-?me|example|dev-secret|do-not-use/i;
const DEMO_LOGIN_IN_PRODUCTION = 'yes-i-know';

/**
 * Production starts only with real authentication: an identity provider's keys
 * with its issuer and audience, no shipped or weak HMAC secret, and demo login
 * only when AUTH_DEMO_LOGIN_IN_PRODUCTION says `yes-i-know`.
 */
function checkAuth(c: ParsedConfig, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  const idpKeys = Boolean(c.AUTH_JWKS_FILE || c.AUTH_PUBLIC_KEY_FILE);
  if (c.AUTH_JWKS_FILE && c.AUTH_PUBLIC_KEY_FILE) issue('AUTH_PUBLIC_KEY_FILE', 'set AUTH_JWKS_FILE or AUTH_PUBLIC_KEY_FILE, not both');
  if (c.AUTH_DEMO_ADMINS && !c.AUTH_DEMO_LOGIN) issue('AUTH_DEMO_ADMINS', 'is only read when AUTH_DEMO_LOGIN=true');
  if (c.AUTH_DEMO_LOGIN_IN_PRODUCTION !== undefined && c.AUTH_DEMO_LOGIN_IN_PRODUCTION !== DEMO_LOGIN_IN_PRODUCTION) {
    issue('AUTH_DEMO_LOGIN_IN_PRODUCTION', `must be unset or exactly ${DEMO_LOGIN_IN_PRODUCTION}`);
  }
  if (c.NODE_ENV !== 'production') return;
  if (c.AUTH_DEMO_LOGIN && c.AUTH_DEMO_LOGIN_IN_PRODUCTION !== DEMO_LOGIN_IN_PRODUCTION) {
    issue('AUTH_DEMO_LOGIN', `lets anyone log in as anyone: refused with NODE_ENV=production unless AUTH_DEMO_LOGIN_IN_PRODUCTION=${DEMO_LOGIN_IN_PRODUCTION}`);
  }
  if (c.AUTH_SECRET !== undefined) {
    if (SHIPPED_SECRETS.has(c.AUTH_SECRET) || PLACEHOLDER_WORDS.test(c.AUTH_SECRET)) issue('AUTH_SECRET', 'is a secret shipped with Switchboard (public): make your own, e.g. openssl rand -base64 48');
    else if (!looksRandom(c.AUTH_SECRET)) issue('AUTH_SECRET', 'needs at least 32 random bytes in production (e.g. openssl rand -base64 48)');
  }
  if (c.AUTH_DEMO_LOGIN && c.AUTH_SECRET === undefined) issue('AUTH_SECRET', 'demo login in production signs with AUTH_SECRET: set one (at least 32 random bytes)');
  if (!idpKeys && !c.AUTH_DEMO_LOGIN) {
    issue('AUTH_JWKS_FILE', "production needs your identity provider's keys: AUTH_JWKS_FILE or AUTH_PUBLIC_KEY_FILE (deploy/README.md, \"Authentication\")");
  }
  if (idpKeys && !c.AUTH_ISSUER) issue('AUTH_ISSUER', "is required in production: your identity provider's issuer (the tokens' iss)");
  if (idpKeys && !c.AUTH_AUDIENCE) issue('AUTH_AUDIENCE', 'is required in production: the audience your identity provider puts in tokens for this service (aud)');
}

/**
 * The admin UI is on when its password or hash is set (one of them). In
 * production a password must not be one copied from an example.
 */
function checkAdminUi(c: ParsedConfig, ctx: z.RefinementCtx): void {
  if (c.ADMIN_UI_PASSWORD && c.ADMIN_UI_PASSWORD_HASH) {
    ctx.addIssue({ code: 'custom', path: ['ADMIN_UI_PASSWORD_HASH'], message: 'set ADMIN_UI_PASSWORD or ADMIN_UI_PASSWORD_HASH, not both' });
  }
  if (c.NODE_ENV === 'production' && c.ADMIN_UI_PASSWORD && PLACEHOLDER_WORDS.test(c.ADMIN_UI_PASSWORD)) {
    ctx.addIssue({ code: 'custom', path: ['ADMIN_UI_PASSWORD'], message: 'is an example value: make your own, e.g. openssl rand -base64 24' });
  }
}

/** At least 32 bytes with the variety of random ones (a repeated word or a padded phrase fails). */
function looksRandom(secret: string): boolean {
  return Buffer.byteLength(secret) >= 32 && new Set(secret).size >= 16;
}

/** One clear message per bad Redis combination. */
function checkRedisTopology(c: ParsedConfig, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  const addresses = (name: 'REDIS_CLUSTER_NODES' | 'REDIS_SENTINELS', defaultPort: number) => {
    try {
      return parseAddressList(c[name] ?? '', defaultPort);
    } catch (err) {
      const message = (err as Error).message;
      issue(name, c[name] ? message : `is empty (required when REDIS_MODE=${c.REDIS_MODE})`);
      return [];
    }
  };
  if (c.REDIS_ADAPTER && c.ADAPTER && c.REDIS_ADAPTER !== c.ADAPTER) {
    issue('ADAPTER', `says ${c.ADAPTER} but REDIS_ADAPTER says ${c.REDIS_ADAPTER}: set one`);
  }
  if (c.REDIS_MODE === 'cluster') {
    const nodes = addresses('REDIS_CLUSTER_NODES', 6379);
    // Measured (test/integration/adapters.int.test.ts): while the cluster is down, ioredis' cluster
    // SUBSCRIBE connection reconnects without backoff and takes most of a core; and every PUBLISH
    // goes to every node. Sharded pub/sub and streams do neither.
    const adapter = c.REDIS_ADAPTER ?? c.ADAPTER;
    if (adapter === 'classic') issue(c.REDIS_ADAPTER ? 'REDIS_ADAPTER' : 'ADAPTER', 'classic does not suit REDIS_MODE=cluster: use sharded (the default there) or streams');
    if (c.REDIS_PASSWORD && nodes.some((n) => n.password)) issue('REDIS_PASSWORD', 'REDIS_CLUSTER_NODES already carry a password: set one of them');
    if (new Set(nodes.filter((n) => n.password).map((n) => n.password)).size > 1) issue('REDIS_CLUSTER_NODES', 'the nodes carry different passwords');
  } else if (c.REDIS_CLUSTER_NODES) {
    issue('REDIS_CLUSTER_NODES', `is only read when REDIS_MODE=cluster (it is ${c.REDIS_MODE})`);
  }
  if (c.REDIS_MODE === 'sentinel') addresses('REDIS_SENTINELS', 26379);
  else if (c.REDIS_SENTINELS) issue('REDIS_SENTINELS', `is only read when REDIS_MODE=sentinel (it is ${c.REDIS_MODE})`);
  if (c.REDIS_MODE === 'single' && c.REDIS_PASSWORD && new URL(c.REDIS_URL).password) {
    issue('REDIS_PASSWORD', 'REDIS_URL already has a password: set one of them');
  }
}

/** Parses the environment; throws one readable error naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let resolved: NodeJS.ProcessEnv;
  try {
    // AUTH_SECRET_FILE, REDIS_URL_FILE, REDIS_PASSWORD_FILE, MONGO_URL_FILE, ADMIN_UI_PASSWORD[_HASH]_FILE (infra/secrets.ts).
    resolved = resolveSecretFiles(env);
  } catch (err) {
    throw new Error(`Invalid configuration:\n  ${(err as Error).message}`);
  }
  const parsed = configSchema.safeParse(resolved);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const { ADAPTER, REDIS_ADAPTER, ADMIN_UI_MODE, ...rest } = parsed.data;
  return {
    ...rest,
    ADMIN_UI_MODE: ADMIN_UI_MODE ?? (rest.NODE_ENV === 'production' ? 'production' : 'development'),
    AUTH_SECRET: rest.AUTH_SECRET ?? (rest.NODE_ENV === 'production' ? undefined : DEV_AUTH_SECRET),
    REDIS_ADAPTER: REDIS_ADAPTER ?? ADAPTER ?? (rest.REDIS_MODE === 'cluster' ? 'sharded' : 'classic'),
  };
}
