import { Router } from 'express';
import { Error as MongooseError, mongo } from 'mongoose';
import type { RouteGuards } from '../http/guards';
import { AppError } from '../infra/errors';
import { parse } from '../infra/validation';
import type { PresenceService } from '../presence';
import { userId as userIdSchema } from '@switchboard/protocol';
import type { UsersService } from './index';

export interface UserRouterDeps extends RouteGuards {
  users: Pick<UsersService, 'profile'>;
  presence: Pick<PresenceService, 'stateOf'>;
}

/** GET /api/users/:id: the durable profile with the user's live presence. */
export function userRouter({ users, presence, limitBy, requireAuth }: UserRouterDeps): Router {
  const router = Router();
  router.get('/api/users/:id', limitBy('http'), requireAuth, async (req, res) => {
    const userId = parse(userIdSchema, req.params.id);
    // Online state from Redis (or this replica while it is down), lastSeen from MongoDB.
    const state = await presence.stateOf(userId);
    let profile = null;
    let storage: 'ok' | 'unavailable' = 'ok';
    try {
      profile = await users.profile(userId);
    } catch (err) {
      // MongoDB away: the profile is optional here, presence still answers (marked degraded).
      if (!(err instanceof MongooseError || err instanceof mongo.MongoError)) throw err;
      storage = 'unavailable';
    }
    if (!profile && !state.online && storage === 'ok') throw new AppError('NOT_FOUND', `no user ${userId}`);
    res.json({
      ok: true,
      user: { userId, name: profile?.name ?? userId, online: state.online, status: state.status, devices: state.devices, lastSeen: profile?.lastSeen ?? null },
      ...(state.degraded || storage !== 'ok' ? { degraded: true } : {}),
    });
  });
  return router;
}
