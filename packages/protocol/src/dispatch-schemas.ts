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
