import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { RouteGuards } from '../http/guards';
import { AppError } from '../infra/errors';
import { parse } from '../infra/validation';
import { ADMIN_ROLE, schemas, sessionId as sessionIdSchema, type SessionUser } from '@switchboard/protocol';
import type { UsersService } from '../users';
import type { Devices } from './devices';
import type { AuthService } from './index';

export type AuthedRequest = Request & { user?: SessionUser };

/**
 * 401 unless the request carries `Authorization: Bearer <token>` of a live
 * session; the user is then `req.user`, and the session counts as active
 * (devices.ts writes that at most once a minute).
 */
export function requireAuth(auth: AuthService, devices?: Pick<Devices, 'active'>): RequestHandler {
  return async (req: AuthedRequest, _res: Response, next: NextFunction) => {
    const header = req.header('authorization') ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const user = await auth.authenticate(token);
    if (!user) throw new AppError('UNAUTHORIZED', 'a valid Bearer token is required');
    req.user = user;
    devices?.active(user.sessionId, req.header('user-agent'));
    next();
  };
}

export const isAdmin = (user: SessionUser | undefined): boolean => Boolean(user?.roles.includes(ADMIN_ROLE));

/** After requireAuth: 403 unless the token carries the admin role (operators' views). */
export const requireAdmin: RequestHandler = (req: AuthedRequest, _res, next) => {
  if (!isAdmin(req.user)) throw new AppError('FORBIDDEN', `this route needs the ${ADMIN_ROLE} role`);
  next();
};

export interface AuthRouterDeps extends RouteGuards {
  auth: AuthService;
  users: Pick<UsersService, 'recordLogin'>;
  devices: Pick<Devices, 'list' | 'endOthers'>;
  /** Disconnects every socket of a session, in every namespace, on every replica. */
  endSessionSockets: (sessionId: string) => void;
}

/**
 * POST /api/login (demo login only, its own per-address limit), GET /api/session,
 * POST /api/logout, and the caller's devices: GET /api/sessions,
 * DELETE /api/sessions (all but the caller's) and DELETE /api/sessions/:sessionId.
 */
export function authRouter({ auth, users, devices, endSessionSockets, limitBy, requireAuth }: AuthRouterDeps): Router {
  const router = Router();

  // Without AUTH_DEMO_LOGIN the route does not exist: 404 like any unknown /api route.
  if (auth.demoLogin) {
    router.post('/api/login', limitBy('logins'), async (req, res) => {
      const { userId, name } = parse(schemas.login, req.body ?? {});
      const session = await auth.login(userId, name ?? userId, req.header('user-agent'));
      // The durable profile is a side effect: a slow or stuck MongoDB must not hold the login.
      users.recordLogin(userId, session.name);
      res.json({ ok: true, ...session });
    });
  }

  router.get('/api/session', limitBy('http'), requireAuth, (req: AuthedRequest, res) => {
    const { userId, sessionId, name, roles, expiresAt } = req.user!;
    res.json({ ok: true, userId, sessionId, name, roles, expiresAt });
  });

  router.post('/api/logout', limitBy('http'), requireAuth, async (req: AuthedRequest, res) => {
    await auth.logout(req.user!);
    endSessionSockets(req.user!.sessionId);
    res.json({ ok: true });
  });

  router.get('/api/sessions', limitBy('http'), requireAuth, async (req: AuthedRequest, res) => {
    res.json({ ok: true, ...(await devices.list(req.user!)) });
  });

  router.delete('/api/sessions', limitBy('http'), requireAuth, async (req: AuthedRequest, res) => {
    const { ended, failure } = await devices.endOthers(req.user!);
    // Sessions ended before a failure stay ended: their sockets go either way.
    for (const sessionId of ended) endSessionSockets(sessionId);
    if (failure) throw failure;
    res.json({ ok: true, ended: ended.length });
  });

  router.delete('/api/sessions/:sessionId', limitBy('http'), requireAuth, async (req: AuthedRequest, res) => {
    const sessionId = parse(sessionIdSchema, req.params.sessionId);
    await auth.revoke(sessionId, isAdmin(req.user) ? null : req.user!);
    endSessionSockets(sessionId);
    res.json({ ok: true });
  });

  return router;
}
