import path from 'node:path';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { AuthService } from '../auth';
import { isAdmin } from '../auth/http';
import type { LimitBy } from '../http/guards';
import { AppError, toErrorBody } from '../infra/errors';
import type { RateLimiter } from '../ratelimit';
import type { AdminCredentials } from './credentials';
import { localIndexHtml, MDI_DIR, ROBOTO_DIR, UI_DIST } from './ui-files';

export interface AdminUiRouterDeps {
  auth: AuthService;
  credentials: AdminCredentials;
  limiter: RateLimiter;
  limitBy: LimitBy;
}

const REALM = 'Basic realm="Switchboard admin UI", charset="UTF-8"';

function basicCredentials(header: string): { username: string; password: string } | undefined {
  if (!/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * GET /admin/: the admin UI's files, for the same two kinds of caller as its
 * namespace: a Bearer token with the admin role, or the UI's credentials as
 * HTTP Basic (what a browser can send when it opens a page). Anyone else gets
 * 401 with a Basic challenge, before any file is read.
 */
export function adminUiRouter({ auth, credentials, limiter, limitBy }: AdminUiRouterDeps): Router {
  const router = Router();
  const indexHtml = localIndexHtml();

  const operatorsOnly = async (req: Request, res: Response, next: NextFunction) => {
    const header = req.header('authorization') ?? '';
    if (header.startsWith('Bearer ')) {
      const user = await auth.authenticate(header.slice(7).trim());
      if (!user) throw new AppError('UNAUTHORIZED', 'a valid Bearer token is required');
      if (!isAdmin(user)) throw new AppError('FORBIDDEN', 'the admin UI needs the admin role');
      return next();
    }
    const basic = basicCredentials(header);
    const checked = basic ? await credentials.check(basic.username, basic.password, async () => (await limiter.check('logins', `ip:${req.ip ?? 'unknown'}`)).allowed) : 'wrong';
    if (checked === 'ok') return next();
    if (checked === 'limited') {
      res.setHeader('Retry-After', '60');
      throw new AppError('RATE_LIMITED', 'too many attempts from this address, retry in a minute', { retryAfterMs: 60_000 });
    }
    res.setHeader('WWW-Authenticate', REALM);
    res.status(401).json(toErrorBody(new AppError('UNAUTHORIZED', 'the admin UI needs its username and password (HTTP Basic) or an admin token')));
  };

  const files = Router();
  const page = (_req: Request, res: Response) => {
    res.setHeader('Cache-Control', 'private, no-cache');
    res.type('html').send(indexHtml);
  };
  files.get(['/', '/index.html'], (req, res) =>
    // Its files are relative to the page: /admin must become /admin/.
    req.originalUrl.split('?')[0].endsWith('/admin') ? res.redirect(301, `${req.baseUrl}/`) : page(req, res),
  );
  const serve = (dir: string) => express.static(dir, { index: false });
  files.use('/vendor/mdi/css', serve(path.join(MDI_DIR, 'css')));
  files.use('/vendor/mdi/fonts', serve(path.join(MDI_DIR, 'fonts')));
  files.use('/vendor/roboto', serve(ROBOTO_DIR));
  files.use(serve(UI_DIST));
  files.use(() => {
    throw new AppError('NOT_FOUND', 'no such file');
  });

  router.use('/admin', limitBy('http'), operatorsOnly, files);
  return router;
}
