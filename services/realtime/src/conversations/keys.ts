import type { Keyspace } from '../infra/keys';

/**
 * The conversations' Redis keys. A room's keys share its hash tag with its
 * history window (`{room:<name>}`), so one script reads them together; a
 * user's share `{uc:<userId>}`.
 *
 *   {room:<name>}:state   hash: n (messages), o:<user> (that user's), lt li lm
 *                         (the newest message's ts, id and window member), ob,
 *                         g (the window generation it was counted under).
 *                         Counted by chat/lua/add-to-window.lua on every send.
 *   {room:<name>}:reads   hash: <user> -> "rg|readTs|readId|cg|cob|nonOwn", the
 *                         user's read position loaded or written under
 *                         generation rg, and a count of the others' messages up
 *                         to it cached under generation cg and ob cob.
 *   {room:<name>}:kind    the room's settings (rooms/access.ts), which never change:
 *                         kept 30 days after they were last read from MongoDB.
 *   {uc:<user>}:rooms     hash: <room> -> the membership's JSON, and "!g" the
 *                         generation it was built under from MongoDB.
 *   {uc:<user>}:version   counter: +1 with every membership change, so a cache
 *                         built from an older read of MongoDB is not written.
 */
export const roomStateKey = (keys: Keyspace, room: string) => keys.tagged('room', room, 'state');
export const roomReadsKey = (keys: Keyspace, room: string) => keys.tagged('room', room, 'reads');
export const userRoomsKey = (keys: Keyspace, userId: string) => keys.tagged('uc', userId, 'rooms');
export const userVersionKey = (keys: Keyspace, userId: string) => keys.tagged('uc', userId, 'version');

/** How long an idle room's state and read positions stay in Redis (recounted from MongoDB after). */
export const ROOM_STATE_TTL_MS = 7 * 24 * 3600_000;
/** How long a user's conversation cache lives after it was last built or read. */
export const USER_CACHE_TTL_MS = 24 * 3600_000;
