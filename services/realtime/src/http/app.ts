import path from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { AppError, HTTP_STATUS, toErrorBody } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { LimitBy } from './guards';

export interface HttpAppDeps {
  instance: string;
  /** Proxy hops whose X-Forwarded-For is believed (TRUST_PROXY). */
  trustProxy: number;
  log: Logger;
  limitBy: LimitBy;
  /** /health and /metrics, then each capability's router (its routes carry their own guards). */
  routers: Router[];
}

/** The Express app: the capabilities' routers, the demo page, and the contract's error bodies. */
export function createHttpApp({ instance, trustProxy, log, limitBy, routers }: HttpAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Behind nginx (TRUST_PROXY=1) req.ip is the address nginx saw, not whatever a
  // client wrote into X-Forwarded-For; with no proxy (0) it is the socket's own
  // address. Either way per-address limits cannot be dodged with a header.
  app.set('trust proxy', trustProxy);
  app.use((_req, res, next) => {
    res.setHeader('X-Served-By', instance);
    next();
  });
  app.use(express.json({ limit: '16kb' }));

  for (const router of routers) app.use(router);

  // An unknown /api route costs like any other.
  app.use('/api', limitBy('http'), () => {
    throw new AppError('NOT_FOUND', 'no such route');
  });
  app.use(express.static(path.join(__dirname, '..', '..', 'public')));

  // Malformed JSON, AppErrors and anything unexpected end here as the contract's error body.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const mapped =
      (err as { type?: string }).type === 'entity.parse.failed'
        ? new AppError('VALIDATION', 'body must be valid JSON')
        : (err as { type?: string }).type === 'entity.too.large'
          ? new AppError('VALIDATION', 'body too large')
          : err;
    const body = toErrorBody(mapped);
    if (body.error.code === 'INTERNAL') log.error({ err }, 'http handler failed');
    res.status(HTTP_STATUS[body.error.code]).json(body);
  });

  return app;
}
