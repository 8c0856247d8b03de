import { Router } from 'express';
import type { RouteGuards } from '../http/guards';
import { parse } from '../infra/validation';
import { room as roomSchema } from '@switchboard/protocol';
import type { RoomsService } from './index';

export interface RoomRouterDeps extends RouteGuards {
  rooms: Pick<RoomsService, 'members'>;
}

/** GET /api/rooms/:room/members. */
export function roomRouter({ rooms, limitBy, requireAuth }: RoomRouterDeps): Router {
  const router = Router();
  router.get('/api/rooms/:room/members', limitBy('http'), requireAuth, async (req, res) => {
    const room = parse(roomSchema, req.params.room);
    const { members, degraded } = await rooms.members(room);
    res.json({ ok: true, room, members, ...(degraded ? { degraded } : {}) });
  });
  return router;
}
