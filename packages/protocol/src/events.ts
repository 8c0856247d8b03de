import type { z } from 'zod';
import type { dispatchSchemas } from './dispatch-schemas';
import type { ErrorBody } from './errors';
import type { schemas } from './schemas';
import type {
  ChatMessage,
  Conversation,
  ConversationPage,
  ConversationRemoved,
  Offer,
  OfferRevoked,
  Order,
  PresenceSnapshot,
  PresenceUpdate,
  Provider,
  Receipt,
  Reminder,
  RoomEvent,
  SessionUser,
  SyncRequired,
  TypingEvent,
} from './shapes';

/** What an ack answers: `ok: true` with the event's reply fields, or the error body. */
export type AckResponse<Reply extends object = object> = ({ ok: true } & Reply) | ErrorBody;
export type Ack<Reply extends object = object> = (response: AckResponse<Reply>) => void;

/**
 * One client -> server event: the schema its payload must pass (none for an
 * event without payload) and the fields its ack adds to `ok: true`. The
 * service's router validates with the schema; clients send its input type.
 */
export interface EventContract {
  schema?: z.ZodType;
  reply: object;
}
type NoReply = Record<never, never>;

/** Socket.IO's listen-events map of a contract table: the payload, then the optional ack. */
export type ListenEvents<T extends Record<keyof T, EventContract>> = {
  [E in keyof T]: T[E] extends { schema: z.ZodType }
    ? (payload: z.input<T[E]['schema']>, ack?: Ack<T[E]['reply']>) => void
    : (ack?: Ack<T[E]['reply']>) => void;
};

/** The payload a client sends with event E of a contract table (undefined for an event that takes none). */
export type RequestPayload<T extends Record<keyof T, EventContract>, E extends keyof T> = T[E] extends { schema: z.ZodType } ? z.input<T[E]['schema']> : undefined;
/** What the ack of event E of a contract table answers. */
export type AckOf<T extends Record<keyof T, EventContract>, E extends keyof T> = AckResponse<T[E]['reply']>;

/** Client -> server events of the main namespace (docs/protocol.md, "Client → server events"). */
export interface MainRequests {
  'room:join': { schema: typeof schemas.roomJoin; reply: { room: string; members: string[]; kind: Conversation['kind']; private: boolean } };
  'room:leave': { schema: typeof schemas.roomLeave; reply: NoReply };
  'room:create': { schema: typeof schemas.roomCreate; reply: { room: string; private: boolean; members: string[] } };
  'dm:open': { schema: typeof schemas.dmOpen; reply: { room: string; with: string } };
  'message:read': { schema: typeof schemas.messageRead; reply: { room: string; upTo: string; unread: number | null } };
  /** Also subscribes the socket to conversation:update and conversation:removed. */
  'conversations:list': { schema: typeof schemas.conversationsList; reply: ConversationPage };
  'message:send': { schema: ReturnType<typeof schemas.messageSend>; reply: { message: ChatMessage; duplicate: boolean } };
  'history:sync': { schema: typeof schemas.historySync; reply: { messages: ChatMessage[]; hasMore: boolean } };
  'presence:set': { schema: typeof schemas.presenceSet; reply: NoReply };
  'presence:subscribe': { schema: typeof schemas.presenceSubscription; reply: PresenceSnapshot };
  'presence:unsubscribe': { schema: typeof schemas.presenceSubscription; reply: NoReply };
  'presence:heartbeat': { reply: NoReply };
  /** Acked only when the client asks; the protocol sends it without. */
  typing: { schema: typeof schemas.typing; reply: NoReply };
  'region:update': { schema: typeof schemas.regionUpdate; reply: { region: string } };
}
export type ClientToServerEvents = ListenEvents<MainRequests>;

/** Server -> client events of the main namespace (docs/protocol.md, "Server → client events"). */
export interface ServerToClientEvents {
  'message:new': (message: ChatMessage) => void;
  'presence:update': (update: PresenceUpdate) => void;
  'room:event': (event: RoomEvent) => void;
  typing: (event: TypingEvent) => void;
  'sync:required': (event: SyncRequired) => void;
  reminder: (reminder: Reminder) => void;
  'conversation:update': (conversation: Conversation) => void;
  'conversation:removed': (event: ConversationRemoved) => void;
  receipt: (receipt: Receipt) => void;
}

/** What the service keeps on each main-namespace socket (Socket.IO's `socket.data`). */
export interface SocketData {
  user: SessionUser;
  /** The last message:send of this socket still waiting to be broadcast. */
  sendChain?: Promise<unknown>;
}

/** Client -> server events of the /dispatch namespace (docs/protocol.md, "Dispatch namespace"). */
export interface DispatchRequests {
  'provider:online': { schema: typeof dispatchSchemas.providerOnline; reply: { provider: Provider; offer?: Offer } };
  'provider:location': { schema: typeof dispatchSchemas.providerLocation; reply: { provider: Provider } };
  'provider:offline': { reply: NoReply };
  'order:create': { schema: typeof dispatchSchemas.orderCreate; reply: { order: Order; duplicate: boolean } };
  'order:update': { schema: typeof dispatchSchemas.orderUpdate; reply: { order: Order } };
  'order:cancel': { schema: typeof dispatchSchemas.orderRef; reply: { order: Order } };
  'order:get': { schema: typeof dispatchSchemas.orderRef; reply: { order: Order } };
  'offer:accept': { schema: typeof dispatchSchemas.orderRef; reply: { order: Order } };
  'offer:decline': { schema: typeof dispatchSchemas.orderRef; reply: { order: Order } };
  'order:complete': { schema: typeof dispatchSchemas.orderRef; reply: { order: Order } };
}
export type DispatchClientToServerEvents = ListenEvents<DispatchRequests>;

export interface DispatchServerToClientEvents {
  'offer:new': (offer: Offer) => void;
  'offer:revoked': (event: OfferRevoked) => void;
  'order:update': (order: Order) => void;
}

export interface DispatchSocketData {
  user: SessionUser;
}
