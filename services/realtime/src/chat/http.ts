import { Router } from 'express';
import type { RouteGuards } from '../http/guards';
import { parse } from '../infra/validation';
import { room as roomSchema, schemas } from '@switchboard/protocol';
import type { ChatService } from './index';

export interface ChatRouterDeps extends RouteGuards {
  chat: Pick<ChatService, 'history'>;
}

/** GET /api/rooms/:room/messages?limit=&before=: a page of history, newest first. */
export function chatRouter({ chat, limitBy, requireAuth }: ChatRouterDeps): Router {
  const router = Router();
  router.get('/api/rooms/:room/messages', limitBy('http'), requireAuth, async (req, res) => {
    const room = parse(roomSchema, req.params.room);
    const { limit, before } = parse(schemas.historyQuery, req.query);
    const messages = await chat.history(room, limit, before);
    res.json({ ok: true, room, messages });
  });
  return router;
}
