import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { AdminCredentials, AdminUi } from './admin';
import { AuthService } from './auth';
import { Devices } from './auth/devices';
import { authRouter, requireAdmin, requireAuth } from './auth/http';
import { readIdentityProviderKeys, TokenService } from './auth/tokens';
import { Cache } from './cache';
import { ChatService } from './chat';
import { chatRouter } from './chat/http';
import { chatSocket } from './chat/socket';
import { loadConfig } from './config';
import { createSocketServer, serveConnections, type MainServer } from './gateway';
import { endSessionSockets } from './gateway/auth-middleware';
import { createHttpApp } from './http/app';
import { limitByAddress } from './http/guards';
import { healthRouter } from './http/health';
import { createMetricsServer } from './http/metrics';
import { resolveInstanceName } from './infra/instance';
import { Keyspace } from './infra/keys';
import { createLogger } from './infra/logger';
import { createMetrics } from './infra/metrics';
import { MongoConnection } from './infra/mongo';
import { RedisConnections } from './infra/redis';
import { RedisTopology } from './infra/redis-topology';
import { PresenceService } from './presence';
import { presenceRouter } from './presence/http';
import { presenceSocket } from './presence/socket';
import { userRoom } from '@switchboard/protocol';
import { RateLimiter } from './ratelimit';
import { regionRouter } from './regions/http';
import { regionSocket } from './regions/socket';
import { RoomsService } from './rooms';
import { roomRouter } from './rooms/http';
import { roomSocket } from './rooms/socket';
import { EventBus } from './events';
import { SocketSessions } from './sessions';
import { reportSocketsToLoginSessions } from './sessions/login-sessions';
import { sessionSocket } from './sessions/socket';
import { statsRouter } from './stats/http';
import { UsersService } from './users';
import { userRouter } from './users/http';
import { JobQueue } from './jobs';
import { jobRouter } from './jobs/http';
import { Reminders } from './jobs/reminders';
import { reminderSocket } from './jobs/socket';
import { Dispatch, registerDispatch } from './dispatch';
import { dispatchRouter } from './dispatch/http';

async function main(): Promise<void> {
  const config = loadConfig();
  const instance = await resolveInstanceName(config.INSTANCE_NAME);
  // A new node id per boot: a restarted replica never inherits a dead one's entries.
  const nodeId = `${instance}-${randomBytes(4).toString('hex')}`;
  const log = createLogger(config.LOG_LEVEL, instance);
  const metrics = createMetrics(instance);
  // The identity provider's keys are read first: a bad key file stops the start before anything connects.
  const tokens = await TokenService.create({
    demoSecret: config.AUTH_DEMO_LOGIN ? config.AUTH_SECRET : undefined,
    ...readIdentityProviderKeys(config),
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    clockSkewSec: config.AUTH_CLOCK_SKEW_SEC,
    rolesClaim: config.AUTH_ROLES_CLAIM,
  });
  // The admin UI is on only with a password (hashed here) or a hash. Awaited before the Redis
  // connections exist: from their creation to the namespaces' there must be no await (below).
  const adminCredentials = await AdminCredentials.fromConfig(config);

  process.on('unhandledRejection', (reason) => {
    metrics.unhandledRejections.inc();
    log.error({ err: reason }, 'unhandled promise rejection');
  });

  // No await from here to the namespaces' creation (createSocketServer, registerDispatch): a
  // SUBSCRIBE issued while ioredis is between connect and ready goes out ahead of the rest of
  // its handshake, which Redis then refuses in subscriber mode; ioredis reconnects without the
  // subscriptions, and this replica would never hear another's broadcasts.
  const keys = new Keyspace(config.REDIS_KEY_PREFIX);
  const topology = new RedisTopology(config);
  log.info({ redisMode: topology.mode, redis: topology.describe(), adapter: config.REDIS_ADAPTER }, 'redis topology');
  const redis = new RedisConnections(topology, log, metrics);
  const mongo = new MongoConnection(config.MONGO_URL, config.MONGO_TIMEOUT_MS, log, metrics, config.MONGO_POOL_SIZE);
  mongo.start();

  const cache = new Cache(redis, keys, metrics);
  const auth = new AuthService(
    redis,
    keys,
    tokens,
    {
      ttlSec: config.SESSION_TTL_SEC,
      clockSkewSec: config.AUTH_CLOCK_SKEW_SEC,
      demoLogin: config.AUTH_DEMO_LOGIN,
      demoAdmins: new Set(config.AUTH_DEMO_ADMINS.split(',').map((u) => u.trim()).filter(Boolean)),
    },
    log,
  );
  log.info({ demoLogin: config.AUTH_DEMO_LOGIN, identityProvider: tokens.acceptsIdentityProviderTokens }, 'authentication');
  const presence = new PresenceService(
    redis,
    keys,
    nodeId,
    instance,
    { ttlMs: config.PRESENCE_TTL_MS, refreshMs: config.PRESENCE_REFRESH_MS, sweepMs: config.PRESENCE_SWEEP_MS },
    log,
    metrics,
  );
  const rooms = new RoomsService(redis, keys, nodeId, presence.isLive, 'room');
  const regions = new RoomsService(redis, keys, nodeId, presence.isLive, 'region');
  const sessions = new SocketSessions(redis, keys, nodeId);
  for (const c of [rooms, regions, sessions]) presence.addContributor(c);
  const devices = new Devices({ redis, auth, nodeId, liveNodeIds: async () => new Set((await presence.liveNodes()).map((n) => n.nodeId)), log });
  const users = new UsersService(mongo, cache, log, metrics, config.MONGO_TIMEOUT_MS);
  const events = new EventBus(redis, config.REDIS_KEY_PREFIX);
  const chat = new ChatService(mongo, instance, log, metrics, redis, keys, config.MONGO_TIMEOUT_MS, { size: config.HISTORY_WINDOW, ttlMs: config.HISTORY_WINDOW_TTL_MS });
  const limiter = new RateLimiter(
    redis,
    keys,
    {
      messages: config.RATE_LIMIT_MESSAGES,
      joins: config.RATE_LIMIT_JOINS,
      presence: config.RATE_LIMIT_PRESENCE,
      typing: config.RATE_LIMIT_TYPING,
      location: config.RATE_LIMIT_LOCATION,
      history: config.RATE_LIMIT_HISTORY,
      dispatch: config.RATE_LIMIT_DISPATCH,
      orders: config.RATE_LIMIT_ORDERS,
      logins: config.RATE_LIMIT_LOGINS,
      http: config.RATE_LIMIT_HTTP,
      handshakes: config.RATE_LIMIT_HANDSHAKES,
      events: config.RATE_LIMIT_EVENTS,
    },
    metrics,
    log,
  );

  const jobs = new JobQueue(topology, config.REDIS_KEY_PREFIX, log, metrics, config.JOBS_CONCURRENCY);
  let io: MainServer | undefined;
  const reminders = new Reminders(
    jobs,
    redis,
    keys,
    chat,
    presence,
    rooms,
    mongo,
    { delayMs: config.REMINDER_DELAY_MS, retentionMs: config.REMINDER_RETENTION_MS },
    (r) => io?.to(userRoom(r.to)).emit('reminder', r),
    log,
  );
  jobs.handle('cleanup', async () => ({
    sessions: await auth.pruneExpiredSessions(),
    rooms: await rooms.pruneEmptyRooms(),
    regions: await regions.pruneEmptyRooms(),
    reminders: await reminders.pruneExpired(),
  }));
  jobs.handle('cache-warmup', async () => ({ rooms: await chat.warmUp(config.WARMUP_ROOMS) }));

  // Dispatch registers its offer-timeout job handler, so before jobs.start().
  const dispatch = new Dispatch({ config, nodeId, redis, keys, jobs, mongo, log, metrics });

  const adminUi = adminCredentials && new AdminUi({ config, instance, redis, keys, auth, limiter, log }, adminCredentials);

  let shuttingDown = false;
  const guards = { limitBy: limitByAddress(limiter), requireAuth: requireAuth(auth, devices), requireAdmin };
  const app = createHttpApp({
    instance,
    trustProxy: config.TRUST_PROXY,
    log,
    limitBy: guards.limitBy,
    routers: [
      healthRouter({ instance, nodeId, startedAt: Date.now(), redis, mongo, presence, limiter, isShuttingDown: () => shuttingDown }),
      authRouter({ ...guards, auth, users, devices, endSessionSockets: (sessionId) => io && endSessionSockets(io, sessionId) }),
      presenceRouter({ ...guards, presence }),
      roomRouter({ ...guards, rooms }),
      chatRouter({ ...guards, chat }),
      userRouter({ ...guards, users, presence }),
      regionRouter({ ...guards, regions }),
      statsRouter({ ...guards, presence, rooms, cache, jobs }),
      jobRouter({ ...guards, jobs }),
      dispatchRouter({ ...guards, archive: dispatch.archive, store: dispatch.store, defaultRadiusKm: config.DISPATCH_RADIUS_KM }),
      ...(adminUi ? [adminUi.router(guards.limitBy)] : []),
    ],
  });
  const server = http.createServer(app);
  // Idle keep-alive connections from nginx live longer here than in nginx
  // (keepalive_timeout 60s), so nginx never reuses one Node is closing.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  io = createSocketServer(server, { config, instance, redis, auth, limiter, presence, log });
  // Before any connection handler: the UI's own listeners must run first on every namespace.
  adminUi?.instrument(io);
  // Connect hooks run in this order, disconnect hooks in reverse: rooms and regions are left before the session closes and presence goes.
  serveConnections(
    io,
    [
      presenceSocket(io, { presence, events, users, metrics, maxIdsPerSocket: config.PRESENCE_IDS_PER_SOCKET_MAX }),
      sessionSocket(sessions),
      regionSocket({ regions, sessions, precision: config.REGION_PRECISION }),
      roomSocket(io, { rooms, events, metrics, maxRoomsPerSocket: config.ROOMS_PER_SOCKET_MAX }),
      chatSocket(io, { chat, rooms, reminders, metrics, config }),
      reminderSocket(reminders),
    ],
    { limiter, log, metrics },
  );
  registerDispatch(io, { dispatch, auth, limiter, log, metrics, trustProxy: config.TRUST_PROXY, maxSocketsPerUser: config.SOCKETS_PER_USER_MAX });
  reportSocketsToLoginSessions(io, devices);

  // Start serving even if Redis or MongoDB are not there yet: /health says degraded until they are.
  await redis.waitUntilUp(5000).catch(() => log.warn('starting without redis'));
  presence.start();
  devices.start();
  jobs.start();
  dispatch.start();
  // Every replica declares the schedules (again whenever Redis comes back); BullMQ keeps one of each.
  const declareSchedules = () =>
    Promise.all([jobs.every('cleanup', config.CLEANUP_INTERVAL_MS), jobs.every('cache-warmup', config.WARMUP_INTERVAL_MS)]).catch((err) =>
      log.warn({ err: (err as Error).message }, 'could not declare job schedules; retried when redis is back'),
    );
  void declareSchedules();
  redis.on('up', () => void declareSchedules());
  const metricsServer = createMetricsServer(metrics, log);
  await new Promise<void>((resolve) => metricsServer.listen(config.METRICS_PORT, config.METRICS_HOST, resolve));
  await new Promise<void>((resolve) => server.listen(config.PORT, config.HOST, resolve));
  const portOf = (s: http.Server, fallback: number) => {
    const address = s.address();
    return typeof address === 'object' && address ? address.port : fallback;
  };
  log.info({ port: portOf(server, config.PORT), metricsPort: portOf(metricsServer, config.METRICS_PORT), nodeId }, 'realtime service listening');

  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took too long, exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    presence.stop();
    devices.stop();
    // Remove our presence first so other replicas see the truth at once; then
    // close the sockets: clients see a transport close and reconnect through
    // nginx to a replica that stays.
    await presence.removeNode().catch((err: unknown) => log.error({ err }, 'could not remove this replica from presence'));
    await new Promise<void>((resolve) => io!.close(() => resolve()));
    metricsServer.close();
    // A worker waits for its running jobs; do not let a dead Redis hold the exit.
    await Promise.race([jobs.close(), new Promise((r) => setTimeout(r, 2000).unref())]);
    // The outbox writer finishes its batch and hands its lock over; the transitions it leaves stay in Redis for the next holder.
    await Promise.race([dispatch.stop(), new Promise((r) => setTimeout(r, config.MONGO_TIMEOUT_MS).unref())]);
    // The lastSeen of users whose last device just closed is still queued: store it before MongoDB closes.
    await Promise.race([users.flushWrites(), new Promise((r) => setTimeout(r, config.MONGO_TIMEOUT_MS).unref())]);
    await Promise.allSettled([redis.close(), mongo.close()]);
    log.info('bye');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  // Configuration errors end up here: say what is wrong and stop.
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
