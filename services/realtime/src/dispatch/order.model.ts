import { Schema, type Connection, type Model } from 'mongoose';
import { ORDER_STATUSES, ORDER_TRANSITION_STEPS, type OrderStatus, type OrderTransition } from '@switchboard/protocol';

/**
 * Dispatch's durable records (MongoDB is their source of truth; Redis holds the
 * live state machine). Written only by the outbox writer (outbox.ts), from the
 * transitions the step scripts append, with upserts that can be replayed.
 */

/** An order as of its latest stored transition. */
export interface OrderDoc {
  /** The order id. */
  _id: string;
  customerId: string;
  status: OrderStatus;
  /** searching, offered or assigned: what a restore brings back and the admin's active list shows. */
  active: boolean;
  pickup: { lat: number; lng: number };
  radiusKm: number;
  providerId: string | null;
  /** The provider that accepted it, kept after it completes or is cancelled: its orders list. */
  acceptedBy: string | null;
  attempt: number;
  offerExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  /** The seq of the transition this document reflects: an older one never overwrites it. */
  seq: number;
  /** Providers that have had an offer for it (a restored order skips them). */
  tried: string[];
}

/** One change of an order (the wire shape): its id is `<orderId>:<seq>:<outbox stream entry id>`, so writing it twice stores it once. */
export interface TransitionDoc extends OrderTransition {
  _id: string;
  orderId: string;
}

const orderSchema = new Schema<OrderDoc>(
  {
    _id: { type: String, required: true },
    customerId: { type: String, required: true },
    status: { type: String, enum: ORDER_STATUSES, required: true },
    active: { type: Boolean, required: true },
    pickup: { lat: { type: Number, required: true }, lng: { type: Number, required: true } },
    radiusKm: { type: Number, required: true },
    providerId: { type: String, default: null },
    acceptedBy: { type: String, default: null },
    attempt: { type: Number, required: true },
    offerExpiresAt: { type: Number, default: null },
    createdAt: { type: Number, required: true },
    updatedAt: { type: Number, required: true },
    seq: { type: Number, required: true },
    tried: { type: [String], default: [] },
  },
  { versionKey: false, collection: 'dispatch_orders' },
);
// The pages of GET /api/dispatch/orders: one equality, newest first.
orderSchema.index({ customerId: 1, createdAt: -1, _id: -1 });
orderSchema.index({ acceptedBy: 1, createdAt: -1, _id: -1 });
orderSchema.index({ active: 1, createdAt: -1, _id: -1 });
// A restore reads the unassigned ones too.
orderSchema.index({ status: 1 });

const transitionSchema = new Schema<TransitionDoc>(
  {
    _id: { type: String, required: true },
    orderId: { type: String, required: true },
    seq: { type: Number, required: true },
    step: { type: String, enum: ORDER_TRANSITION_STEPS, required: true },
    from: { type: String, enum: [...ORDER_STATUSES, null], default: null },
    to: { type: String, enum: ORDER_STATUSES, required: true },
    providerId: { type: String, default: null },
    at: { type: Number, required: true },
  },
  { versionKey: false, collection: 'dispatch_transitions' },
);
transitionSchema.index({ orderId: 1, seq: 1 });

export function orderModel(connection: Connection): Model<OrderDoc> {
  return connection.models.DispatchOrder ?? connection.model<OrderDoc>('DispatchOrder', orderSchema);
}

export function transitionModel(connection: Connection): Model<TransitionDoc> {
  return connection.models.DispatchTransition ?? connection.model<TransitionDoc>('DispatchTransition', transitionSchema);
}
