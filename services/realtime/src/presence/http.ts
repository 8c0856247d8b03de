import { Router } from 'express';
import type { RouteGuards } from '../http/guards';
import type { PresenceService } from './index';

export interface PresenceRouterDeps extends RouteGuards {
  presence: Pick<PresenceService, 'onlineUsers'>;
}

/** GET /api/presence: who is online, as the presence:subscribe `{ all: true }` snapshot. */
export function presenceRouter({ presence, limitBy, requireAuth }: PresenceRouterDeps): Router {
  const router = Router();
  router.get('/api/presence', limitBy('http'), requireAuth, async (_req, res) => {
    const { users, degraded } = await presence.onlineUsers();
    res.json({ ok: true, users, ...(degraded ? { degraded } : {}) });
  });
  return router;
}
