/**
 * Socket.IO room names. Every connection joins its user's and its session's room,
 * so a user or a session can be addressed on any replica. Each kind has its own
 * prefix and user ids hold no `:`, so a client cannot join `user:bob` or
 * `session:x` by naming it in room:join (that joins `room:user:bob`).
 */
export const userRoom = (userId: string) => `user:${userId}`;
export const sessionRoom = (sessionId: string) => `session:${sessionId}`;
export const chatRoom = (room: string) => `room:${room}`;
/** The sockets of a user that asked for conversation:update (conversations:list subscribes them). */
export const conversationsRoom = (userId: string) => `conversations:${userId}`;
/** Connections in one geohash cell. */
export const regionRoom = (hash: string) => `region:${hash}`;
/** Sockets subscribed to everyone's presence, or to one user's. */
export const PRESENCE_ALL_ROOM = 'presence:all';
export const presenceUserRoom = (userId: string) => `presence:user:${userId}`;
/** Every /dispatch socket joins its user's room: offers and order updates go to it, on any replica. */
export const dispatchUserRoom = (userId: string) => `user:${userId}`;
