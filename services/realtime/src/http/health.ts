import { Router } from 'express';
import type { MongoConnection } from '../infra/mongo';
import type { RedisConnections } from '../infra/redis';
import type { PresenceService } from '../presence';
import type { RateLimiter } from '../ratelimit';

export interface HealthDeps {
  instance: string;
  nodeId: string;
  startedAt: number;
  redis: RedisConnections;
  mongo: MongoConnection;
  presence: Pick<PresenceService, 'localCount'>;
  limiter: Pick<RateLimiter, 'backend'>;
  /** Set once SIGTERM arrived: /health answers 503 so the balancer stops sending. */
  isShuttingDown: () => boolean;
}

/** GET /health for the balancer: no token, no rate limit. (/metrics is on the internal listener, http/metrics.ts.) */
export function healthRouter(deps: HealthDeps): Router {
  const router = Router();

  router.get('/health', async (_req, res) => {
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

  return router;
}
