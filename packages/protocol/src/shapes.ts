/** The shapes clients receive (docs/protocol.md): plain types, the service builds them. */

export const STATUSES = ['online', 'away', 'busy'] as const;
/** A status a user sets with presence:set. */
export type Status = (typeof STATUSES)[number];

/** The role that may see operators' views (`/api/stats`, `/api/jobs/*`, any job, revoking others' sessions). */
export const ADMIN_ROLE = 'admin';

/** Who a verified token names: the user (`sub`), the session that can be ended (`sid`), and the token's roles. */
export interface SessionUser {
  userId: string;
  sessionId: string;
  name: string;
  /** From the token's `roles` claim (AUTH_ROLES_CLAIM); `admin` gates the operators' views. */
  roles: string[];
  expiresAt: number; // epoch ms
}

/** One of a user's login sessions (devices), as `GET /api/sessions` lists it. */
export interface DeviceSession {
  sessionId: string;
  /** The session of the token that asked. */
  current: boolean;
  /** `demo`: opened by POST /api/login; `idp`: an identity provider's token first seen then. Absent on sessions opened before it was recorded. */
  source?: 'demo' | 'idp';
  /** When the session was opened (an identity provider's: when a replica first saw its token). */
  createdAt: number;
  /** Latest of: opened, one of its sockets connected or disconnected, an HTTP call with its token (noted at most once a minute per replica). */
  lastActiveAt: number;
  /** When its tokens stop counting. */
  expiresAt: number;
  /** The User-Agent of the login, or of the first client seen with an identity provider's token; null when none was sent. */
  userAgent: string | null;
  /** Its sockets connected now, every namespace, every live replica. */
  sockets: number;
}

/** The body of `GET /api/sessions`. */
export interface DeviceSessionList {
  /** Most recently active first, at most SESSIONS_LIST_MAX, the caller's own always among them. */
  sessions: DeviceSession[];
  /** The user holds more sessions than listed. */
  more: boolean;
}

/** Most sessions `GET /api/sessions` lists. */
export const SESSIONS_LIST_MAX = 100;

/** A chat message as clients see it (`message:new`, acks, history). */
export interface ChatMessage {
  id: string;
  room: string;
  userId: string;
  text: string;
  ts: number;
  clientMsgId: string;
  instance: string;
}

/** What every replica's clients receive as `presence:update`. */
export interface PresenceUpdate {
  userId: string;
  status: Status | 'offline';
  online: boolean;
  devices: number;
  ts: number;
}

/** A validated presence:subscribe / presence:unsubscribe payload. */
export type PresenceSubscription = { all: true } | { userIds: string[] };

/** One user in a subscription snapshot: a presence:update without `ts`. */
export type PresenceEntry = Omit<PresenceUpdate, 'ts'>;

/** The presence:subscribe ack: the states to start from. */
export interface PresenceSnapshot {
  users: PresenceEntry[];
  /** Redis was down: the states come from this replica's own connections only. */
  degraded?: true;
}

export interface RoomEvent {
  type: 'join' | 'leave';
  room: string;
  userId: string;
}

export interface TypingEvent {
  room: string;
  userId: string;
  typing: boolean;
}

export interface SyncRequired {
  reason: 'redis-recovered';
  ts: number;
  /** When the gap began: sync from before it. */
  since: number;
}

/** What a user receives as the `reminder` event. */
export interface Reminder {
  id: string;
  to: string;
  from: string;
  room: string;
  messageId: string;
  text: string;
  mentionedAt: number;
}

// ---- the /dispatch namespace ----

export interface Point {
  lat: number;
  lng: number;
}

export const ORDER_STATUSES = ['searching', 'offered', 'assigned', 'completed', 'unassigned', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const PROVIDER_STATUSES = ['available', 'offered', 'busy'] as const;
export type ProviderStatus = (typeof PROVIDER_STATUSES)[number];

/** An order as its customer (and its provider) sees it in acks and `order:update`. */
export interface Order {
  id: string;
  customerId: string;
  status: OrderStatus;
  pickup: Point;
  radiusKm: number;
  /** The provider holding the offer (offered) or the order (assigned, completed); null otherwise. */
  providerId: string | null;
  /** Search step: +1 for every offer made and every new search of an unassigned order. */
  attempt: number;
  offerExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface Provider {
  userId: string;
  status: ProviderStatus;
  lat: number;
  lng: number;
  /** The order offered to (offered) or held by (busy) the provider. */
  orderId: string | null;
  socket: string;
  node: string;
  updatedAt: number;
}

/** What a provider sees: the offer, without the customer's identity. */
export interface Offer {
  orderId: string;
  pickup: Point;
  expiresAt: number;
}

export interface OfferRevoked {
  orderId: string;
  reason: 'timeout' | 'cancelled';
}

/** A provider near a point, in GET /api/dispatch/providers. */
export interface NearbyProvider extends Provider {
  distanceKm: number;
}

/** A page of GET /api/dispatch/orders, newest first. */
export interface OrderPage {
  orders: Order[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

/** What made a stored transition of an order ('restore': put back from MongoDB after Redis lost its data). */
export const ORDER_TRANSITION_STEPS = ['create', 'offer', 'decline', 'timeout', 'offline', 'accept', 'complete', 'cancel', 'update', 'restore'] as const;
export type OrderTransitionStep = (typeof ORDER_TRANSITION_STEPS)[number];

/** One change of an order as MongoDB keeps it (GET /api/dispatch/orders/:orderId). */
export interface OrderTransition {
  /** 1, 2, 3...: the order's changes in the order they happened. */
  seq: number;
  step: OrderTransitionStep;
  /** null for a create. */
  from: OrderStatus | null;
  to: OrderStatus;
  /** The provider the step was about (offered to, declined, timed out, went offline, accepted, completed), if any. */
  providerId: string | null;
  at: number;
}
