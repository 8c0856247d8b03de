import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { RouteGuards } from '../http/guards';
import { AppError } from '../infra/errors';
import { parse } from '../infra/validation';
import { schemas, sessionRoom, type SessionUser } from '@switchboard/protocol';
import type { UsersService } from '../users';
import type { AuthService } from './index';

type AuthedRequest = Request & { user?: SessionUser };

/** 401 unless the request carries `Authorization: Bearer <token>` of a live session; the user is then `req.user`. */
export function requireAuth(auth: AuthService): RequestHandler {
  return async (req: AuthedRequest, _res: Response, next: NextFunction) => {
    const header = req.header('authorization') ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const user = await auth.authenticate(token);
    if (!user) throw new AppError('UNAUTHORIZED', 'a valid Bearer token is required');
    req.user = user;
    next();
  };
}

export interface AuthRouterDeps extends RouteGuards {
  auth: AuthService;
  users: Pick<UsersService, 'recordLogin'>;
  /** Disconnects every socket of a session, on every replica. */
  disconnectRoom: (room: string) => void;
}

/** POST /api/login (its own per-address limit, not the `http` one) and POST /api/logout. */
export function authRouter({ auth, users, disconnectRoom, limitBy, requireAuth }: AuthRouterDeps): Router {
  const router = Router();

  router.post('/api/login', limitBy('logins'), async (req, res) => {
    const { userId, name } = parse(schemas.login, req.body ?? {});
    const session = await auth.login(userId, name ?? userId);
    // The durable profile is a side effect: a slow or stuck MongoDB must not hold the login.
    users.recordLogin(userId, session.name);
    res.json({ ok: true, ...session });
  });

  router.post('/api/logout', limitBy('http'), requireAuth, async (req: AuthedRequest, res) => {
    await auth.logout(req.user!);
    disconnectRoom(sessionRoom(req.user!.sessionId));
    res.json({ ok: true });
  });

  return router;
}
