import { Router } from 'express';
import type { Cache } from '../cache';
import type { RouteGuards } from '../http/guards';
import { orUnavailable } from '../infra/errors';
import type { JobQueue } from '../jobs';
import type { PresenceService } from '../presence';
import type { RoomsService } from '../rooms';

export interface StatsRouterDeps extends RouteGuards {
  presence: Pick<PresenceService, 'liveNodes' | 'onlineCount'>;
  rooms: Pick<RoomsService, 'activeCount'>;
  cache: Pick<Cache, 'stats'>;
  jobs: Pick<JobQueue, 'stats'>;
}

/** GET /api/stats (admin role): the cluster at a glance, read from Redis (replicas, connections, users, rooms, cache, jobs). */
export function statsRouter({ presence, rooms, cache, jobs, limitBy, requireAuth, requireAdmin }: StatsRouterDeps): Router {
  const router = Router();
  router.get('/api/stats', limitBy('http'), requireAuth, requireAdmin, async (_req, res) => {
    const [nodes, onlineUsers, activeRooms, cacheStats, jobStats] = await orUnavailable(
      () => Promise.all([presence.liveNodes(), presence.onlineCount(), rooms.activeCount(), cache.stats(), jobs.stats()]),
      'cluster statistics need Redis, which is unavailable',
    );
    res.json({
      ok: true,
      replicas: nodes.map((n) => ({ instance: n.instance, nodeId: n.nodeId, connections: n.connections, reportedAt: n.reportedAt })),
      connections: nodes.reduce((sum, n) => sum + n.connections, 0),
      onlineUsers,
      rooms: activeRooms,
      cache: cacheStats,
      jobs: jobStats.counts,
    });
  });
  return router;
}
