import { z } from 'zod';

/** Payload schemas of the /dispatch namespace (docs/protocol.md, "Dispatch namespace"). Strict: unknown fields are refused. */
export const ORDER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

const lat = z.number().finite().min(-90).max(90);
const lng = z.number().finite().min(-180).max(180);
export const point = z.strictObject({ lat, lng });
export const orderId = z.string().regex(ORDER_ID_RE, 'orderId must be 1 to 64 characters of A-Z a-z 0-9 _ -');
/** A customer may narrow or widen the search, within reason. */
export const radiusKm = z.number().finite().positive().max(100, 'radiusKm must be at most 100');

export const dispatchSchemas = {
  providerOnline: point,
  providerLocation: point,
  /** clientOrderId makes a create safe to retry: the same one (per customer) returns the first order. */
  orderCreate: z.strictObject({ pickup: point, radiusKm: radiusKm.optional(), clientOrderId: z.string().min(1).max(64).optional() }),
  orderUpdate: z.strictObject({ orderId, pickup: point.optional(), radiusKm: radiusKm.optional() }),
  orderRef: z.strictObject({ orderId }),
};

// ---- HTTP query strings of the dispatch routes (docs/protocol.md, "Dispatch over HTTP") ----

/** Most orders one page of GET /api/dispatch/orders holds, and how many without `limit`. */
export const DISPATCH_PAGE_MAX = 100;
export const DISPATCH_PAGE_DEFAULT = 20;
/** Most providers GET /api/dispatch/providers lists, and how many without `limit`. */
export const DISPATCH_PROVIDERS_MAX = 500;
export const DISPATCH_PROVIDERS_DEFAULT = 100;

/** A decimal number in a query string ("", "1e3", " 5" and "0x10" are refused). */
const queryNumber = (name: string) => z.string().regex(/^-?\d{1,4}(\.\d{1,12})?$/, `${name} must be a decimal number`).transform(Number);
const queryLimit = (max: number) =>
  z
    .string()
    .regex(/^\d{1,4}$/, `limit must be a whole number from 1 to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(1, `limit must be a whole number from 1 to ${max}`).max(max, `limit must be a whole number from 1 to ${max}`));

export const dispatchQueries = {
  /** GET /api/dispatch/orders: your orders, or with active=1 (admins) every active one; paged by `cursor`. */
  orders: z
    .strictObject({
      limit: queryLimit(DISPATCH_PAGE_MAX).optional(),
      cursor: z.string().min(1).max(200, 'cursor is not one this API returned').optional(),
      role: z.enum(['customer', 'provider'], 'role must be customer or provider').optional(),
      active: z.literal('1', 'active must be 1').optional(),
    })
    .refine((q) => !(q.active && q.role), 'give either active=1 or role, not both'),
  /** GET /api/dispatch/providers (admins): online providers near a point. */
  providers: z.strictObject({
    lat: queryNumber('lat').pipe(lat),
    lng: queryNumber('lng').pipe(lng),
    radiusKm: queryNumber('radiusKm').pipe(radiusKm).optional(),
    limit: queryLimit(DISPATCH_PROVIDERS_MAX).optional(),
  }),
  /** GET /api/dispatch/orders/:orderId */
  orderId,
};
