import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AuthService } from '../auth';
import type { ChatService } from '../chat';
import { AppError, HTTP_STATUS, orUnavailable, toErrorBody } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import type { MongoConnection } from '../infra/mongo';
import type { RedisConnections } from '../infra/redis';
import type { PresenceService } from '../presence';
import type { LimitClass, RateLimiter } from '../ratelimit';
import type { RoomsService } from '../rooms';
import type { UsersService } from '../users';
import type { Cache } from '../cache';
import type { JobQueue } from '../jobs';
import ngeohash from 'ngeohash';
import type { MainServer } from '../gateway';
import { geohash as geohashSchema, jobId as jobIdSchema, room as roomSchema, schemas, sessionRoom, userId as userIdSchema, type SessionUser } from '../protocol';
import { parse } from '../infra/validation';

export interface HttpDeps {
  instance: string;
  nodeId: string;
  startedAt: number;
  redis: RedisConnections;
  mongo: MongoConnection;
  auth: AuthService;
  presence: PresenceService;
  rooms: RoomsService;
  regions: RoomsService;
  users: UsersService;
  cache: Cache;
  jobs: JobQueue;
  chat: ChatService;
  limiter: RateLimiter;
  metrics: Metrics;
  log: Logger;
  /** Set once SIGTERM arrived: /health answers 503 so the balancer stops sending. */
  isShuttingDown: () => boolean;
  /** The Socket.IO server, once created (logout disconnects the session's sockets). */
  io: () => MainServer | undefined;
}

type Authed = Request & { user?: SessionUser };

/** Express routes of the protocol; handlers call capability services, never Redis directly. */
export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // One proxy hop (nginx): req.ip is the address nginx saw, not whatever a client
  // wrote into X-Forwarded-For, so per-IP rate limits cannot be dodged.
  app.set('trust proxy', 1);
  app.use((_req, res, next) => {
    res.setHeader('X-Served-By', deps.instance);
    next();
  });
  app.use(express.json({ limit: '16kb' }));

  app.get('/health', async (_req, res) => {
    // Cluster: PINGs every primary (bounded by a short timeout), so a failover shows as degraded.
    const redis = await deps.redis.health();
    const redisUp = redis.state === 'connected';
    const mongoUp = deps.mongo.isUp();
    const shuttingDown = deps.isShuttingDown();
    res.status(shuttingDown ? 503 : 200).json({
      status: shuttingDown ? 'shutting_down' : redisUp && mongoUp ? 'ok' : 'degraded',
      instance: deps.instance,
      nodeId: deps.nodeId,
      uptimeSec: Math.round((Date.now() - deps.startedAt) / 1000),
      connections: deps.presence.localCount,
      services: {
        redis: redis.state,
        mongo: mongoUp ? 'connected' : 'disconnected',
        socketio: 'active',
        ratelimit: deps.limiter.backend,
      },
      redis,
    });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  /** 429 with Retry-After (seconds) and the contract's body when the client's IP is over its limit. */
  const limitBy = (cls: LimitClass) => async (req: Request, res: Response, next: NextFunction) => {
    const d = await deps.limiter.check(cls, `ip:${req.ip ?? 'unknown'}`);
    if (d.allowed) return next();
    res.setHeader('Retry-After', String(Math.ceil(d.retryAfterMs / 1000)));
    throw new AppError('RATE_LIMITED', `too many requests, retry in ${d.retryAfterMs} ms`, { retryAfterMs: d.retryAfterMs });
  };
  app.use('/api', (req, res, next) => (req.path === '/login' ? next() : limitBy('http')(req, res, next)));

  app.post('/api/login', limitBy('logins'), async (req, res) => {
    const { userId, name } = parse(schemas.login, req.body ?? {});
    const session = await deps.auth.login(userId, name ?? userId);
    // The durable profile is a side effect: a slow or stuck MongoDB must not hold the login.
    deps.users.recordLogin(userId, session.name);
    res.json({ ok: true, ...session });
  });

  const requireAuth = async (req: Authed, _res: Response, next: NextFunction) => {
    const header = req.header('authorization') ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const user = await deps.auth.authenticate(token);
    if (!user) throw new AppError('UNAUTHORIZED', 'a valid Bearer token is required');
    req.user = user;
    next();
  };

  app.post('/api/logout', requireAuth, async (req: Authed, res) => {
    await deps.auth.logout(req.user!);
    deps.io()?.in(sessionRoom(req.user!.sessionId)).disconnectSockets(true);
    res.json({ ok: true });
  });

  app.get('/api/presence', requireAuth, async (_req, res) => {
    const { users, degraded } = await deps.presence.onlineUsers();
    res.json({ ok: true, users, ...(degraded ? { degraded } : {}) });
  });

  app.get('/api/rooms/:room/members', requireAuth, async (req, res) => {
    const room = parse(roomSchema, req.params.room);
    const { members, degraded } = await deps.rooms.members(room);
    res.json({ ok: true, room, members, ...(degraded ? { degraded } : {}) });
  });

  app.get('/api/rooms/:room/messages', requireAuth, async (req, res) => {
    const room = parse(roomSchema, req.params.room);
    const { limit, before } = parse(schemas.historyQuery, req.query);
    const messages = await deps.chat.history(room, limit, before);
    res.json({ ok: true, room, messages });
  });

  app.get('/api/users/:id', requireAuth, async (req, res) => {
    const userId = parse(userIdSchema, req.params.id);
    // Online state from Redis (or this replica while it is down), lastSeen from MongoDB.
    const state = await deps.presence.stateOf(userId);
    let profile = null;
    let storage: 'ok' | 'unavailable' = 'ok';
    try {
      profile = await deps.users.profile(userId);
    } catch {
      storage = 'unavailable';
    }
    if (!profile && !state.online && storage === 'ok') throw new AppError('NOT_FOUND', `no user ${userId}`);
    res.json({
      ok: true,
      user: { userId, name: profile?.name ?? userId, online: state.online, status: state.status, devices: state.devices, lastSeen: profile?.lastSeen ?? null },
      ...(state.degraded || storage !== 'ok' ? { degraded: true } : {}),
    });
  });

  app.get('/api/regions/:hash/members', requireAuth, async (req, res) => {
    const region = parse(geohashSchema, req.params.hash);
    const cells = req.query.neighbors === '1' ? [region, ...ngeohash.neighbors(region)] : [region];
    const byCell = await deps.regions.membersOfMany(cells);
    res.json({ ok: true, region, cells: byCell });
  });

  app.get('/api/stats', requireAuth, async (_req, res) => {
    const [nodes, onlineUsers, rooms, cache, jobs] = await orUnavailable(
      () => Promise.all([deps.presence.liveNodes(), deps.presence.onlineCount(), deps.rooms.activeCount(), deps.cache.stats(), deps.jobs.stats()]),
      'cluster statistics need Redis, which is unavailable',
    );
    res.json({
      ok: true,
      replicas: nodes.map((n) => ({ instance: n.instance, nodeId: n.nodeId, connections: n.connections, reportedAt: n.reportedAt })),
      connections: nodes.reduce((sum, n) => sum + n.connections, 0),
      onlineUsers,
      rooms,
      cache,
      jobs: jobs.counts,
    });
  });

  const queueDown = 'the job queue needs Redis, which is unavailable';

  app.get('/api/jobs/stats', requireAuth, async (_req, res) => {
    res.json({ ok: true, ...(await orUnavailable(() => deps.jobs.stats(), queueDown)) });
  });

  app.get('/api/jobs/:id', requireAuth, async (req, res) => {
    const id = parse(jobIdSchema, req.params.id);
    const status = await orUnavailable(() => deps.jobs.status(id), queueDown);
    if (!status) throw new AppError('NOT_FOUND', `no job ${id}`);
    res.json({ ok: true, job: status });
  });

  app.use('/api', (_req, _res, next) => next(new AppError('NOT_FOUND', 'no such route')));
  app.use(express.static(path.join(__dirname, '..', '..', 'public')));

  // Malformed JSON, AppErrors and anything unexpected end here as the contract's error body.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const mapped =
      (err as { type?: string }).type === 'entity.parse.failed'
        ? new AppError('VALIDATION', 'body must be valid JSON')
        : (err as { type?: string }).type === 'entity.too.large'
          ? new AppError('VALIDATION', 'body too large')
          : err;
    const body = toErrorBody(mapped);
    if (body.error.code === 'INTERNAL') deps.log.error({ err }, 'http handler failed');
    res.status(HTTP_STATUS[body.error.code]).json(body);
  });

  return app;
}
