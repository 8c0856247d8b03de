import { Router } from 'express';
import { schemas } from '@switchboard/protocol';
import type { AuthedRequest } from '../auth/http';
import type { RouteGuards } from '../http/guards';
import { parse } from '../infra/validation';
import type { ConversationService } from './index';

export interface ConversationRouterDeps extends RouteGuards {
  conversations: Pick<ConversationService, 'list'>;
}

/** GET /api/conversations?limit=&cursor=: the caller's conversations, newest activity first. */
export function conversationRouter({ conversations, limitBy, requireAuth }: ConversationRouterDeps): Router {
  const router = Router();
  router.get('/api/conversations', limitBy('http'), requireAuth, async (req, res) => {
    const { limit, cursor } = parse(schemas.conversationsQuery, req.query);
    res.json({ ok: true, ...(await conversations.list((req as AuthedRequest).user!.userId, limit, cursor)) });
  });
  return router;
}
