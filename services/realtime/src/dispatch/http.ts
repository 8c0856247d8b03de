import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { RouteGuards } from '../http/guards';
import { AppError, orUnavailable } from '../infra/errors';
import { parse } from '../infra/validation';
import {
  DISPATCH_PAGE_DEFAULT,
  DISPATCH_PROVIDERS_DEFAULT,
  dispatchQueries,
  type OrderPage as WireOrderPage,
  type SessionUser,
} from '@switchboard/protocol';
import { isPartyTo, toOrder, type Cursor, type OrderArchive, type OrderPage } from './archive';
import type { DispatchStore } from './store';

type AuthedRequest = Request & { user?: SessionUser & { roles?: string[] } };

export interface DispatchRouterDeps extends RouteGuards {
  /** 403 FORBIDDEN unless the session's user holds the admin role. */
  requireAdmin: RequestHandler;
  archive: Pick<OrderArchive, 'ordersOf' | 'page' | 'get' | 'history'>;
  store: Pick<DispatchStore, 'providersNear'>;
  /** DISPATCH_RADIUS_KM: the radius of GET /api/dispatch/providers without radiusKm. */
  defaultRadiusKm: number;
}

/**
 * Dispatch over HTTP (docs/protocol.md, "Dispatch over HTTP"): a user's orders and one order's
 * history from MongoDB; for admins, every active order (MongoDB) and the online providers near
 * a point (Redis, the live state).
 *
 * GET /api/dispatch/orders?limit=&cursor=&role=      your orders (as customer, and those you accepted as provider)
 * GET /api/dispatch/orders?active=1&limit=&cursor=   admins: every searching, offered or assigned order
 * GET /api/dispatch/orders/:orderId                  one order and its transitions (its customer, its provider, admins)
 * GET /api/dispatch/providers?lat=&lng=&radiusKm=&limit=   admins: online providers, nearest first
 */
export function dispatchRouter({ archive, store, defaultRadiusKm, limitBy, requireAuth, requireAdmin }: DispatchRouterDeps): Router {
  const router = Router();
  const userOf = (req: AuthedRequest) => req.user!.userId;

  // active=1 lists everybody's orders: admins only (checked before anything is read).
  const adminIfActive: RequestHandler = (req, res, next) => (req.query.active === undefined ? next() : requireAdmin(req, res, next));

  router.get('/api/dispatch/orders', limitBy('http'), requireAuth, adminIfActive, async (req: AuthedRequest, res) => {
    const q = parse(dispatchQueries.orders, req.query);
    const limit = q.limit ?? DISPATCH_PAGE_DEFAULT;
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const userId = userOf(req);
    const page = q.active
      ? await archive.page({ active: true }, limit, after)
      : q.role === 'customer'
        ? await archive.page({ customerId: userId }, limit, after)
        : q.role === 'provider'
          ? await archive.page({ acceptedBy: userId }, limit, after)
          : await archive.ordersOf(userId, limit, after);
    res.json({ ok: true, ...wirePage(page) });
  });

  router.get(
    '/api/dispatch/orders/:orderId',
    limitBy('http'),
    requireAuth,
    async (req: AuthedRequest, res, next: NextFunction) => {
      const orderId = parse(dispatchQueries.orderId, req.params.orderId);
      const order = await archive.get(orderId);
      if (!order) throw new AppError('NOT_FOUND', `no order ${orderId}`);
      res.locals.order = order;
      // Anyone else needs the admin role.
      return isPartyTo(order, userOf(req)) ? next() : requireAdmin(req, res, next);
    },
    async (_req: AuthedRequest, res: Response) => {
      const order = res.locals.order as Parameters<typeof toOrder>[0];
      res.json({ ok: true, order: toOrder(order), transitions: await archive.history(order.id) });
    },
  );

  router.get('/api/dispatch/providers', limitBy('http'), requireAuth, requireAdmin, async (req, res) => {
    const q = parse(dispatchQueries.providers, req.query);
    const providers = await orUnavailable(
      () => store.providersNear(q.lat, q.lng, q.radiusKm ?? defaultRadiusKm, q.limit ?? DISPATCH_PROVIDERS_DEFAULT),
      'online providers are unavailable while Redis is down',
    );
    res.json({ ok: true, providers });
  });

  return router;
}

/** Opaque to clients: base64url of "<createdAt>.<orderId>". */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.createdAt}.${c.id}`).toString('base64url');
}

export function decodeCursor(raw: string): Cursor {
  const m = /^(\d{1,15})\.([A-Za-z0-9_-]{1,64})$/.exec(Buffer.from(raw, 'base64url').toString('utf8'));
  if (!m || Buffer.from(`${m[1]}.${m[2]}`).toString('base64url') !== raw) throw new AppError('VALIDATION', 'cursor: not a cursor this API returned');
  return { createdAt: Number(m[1]), id: m[2] };
}

const wirePage = (page: OrderPage): WireOrderPage => ({ orders: page.orders, nextCursor: page.next ? encodeCursor(page.next) : null });

