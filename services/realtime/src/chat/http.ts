import { Router } from 'express';
import type { AuthedRequest } from '../auth/http';
import type { RouteGuards } from '../http/guards';
import { parse } from '../infra/validation';
import { room as roomSchema, schemas } from '@switchboard/protocol';
import type { RoomAccess } from '../rooms/access';
import type { ChatService } from './index';

export interface ChatRouterDeps extends RouteGuards {
  chat: Pick<ChatService, 'history'>;
  access: Pick<RoomAccess, 'requireMember'>;
}

/** GET /api/rooms/:room/messages?limit=&before=: a page of history, newest first, for the room's members. */
export function chatRouter({ chat, access, limitBy, requireAuth }: ChatRouterDeps): Router {
  const router = Router();
  router.get('/api/rooms/:room/messages', limitBy('http'), requireAuth, async (req, res) => {
    const room = parse(roomSchema, req.params.room);
    const { limit, before } = parse(schemas.historyQuery, req.query);
    await access.requireMember((req as AuthedRequest).user!.userId, room);
    const messages = await chat.history(room, limit, before);
    res.json({ ok: true, room, messages });
  });
  return router;
}
