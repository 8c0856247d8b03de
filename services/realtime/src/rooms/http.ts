import { Router } from 'express';
import type { AuthedRequest } from '../auth/http';
import type { RouteGuards } from '../http/guards';
import { parse } from '../infra/validation';
import { room as roomSchema } from '@switchboard/protocol';
import type { RoomAccess } from './access';
import type { RoomsService } from './index';

export interface RoomRouterDeps extends RouteGuards {
  rooms: Pick<RoomsService, 'members'>;
  access: Pick<RoomAccess, 'settingsOf' | 'requireMember'>;
}

/** GET /api/rooms/:room/members: who is online in it; a private room's or a direct conversation's for its members only. */
export function roomRouter({ rooms, access, limitBy, requireAuth }: RoomRouterDeps): Router {
  const router = Router();
  router.get('/api/rooms/:room/members', limitBy('http'), requireAuth, async (req, res) => {
    const room = parse(roomSchema, req.params.room);
    const settings = await access.settingsOf(room);
    if (settings && settings.kind !== 'public') await access.requireMember((req as AuthedRequest).user!.userId, room);
    const { members, degraded } = await rooms.members(room);
    res.json({ ok: true, room, members, ...(degraded ? { degraded } : {}) });
  });
  return router;
}
