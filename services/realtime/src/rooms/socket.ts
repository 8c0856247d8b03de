import type { EventBus } from '../events';
import type { MainServer, MainSocket, SocketCapability } from '../gateway/sockets';
import { AppError } from '../infra/errors';
import type { Metrics } from '../infra/metrics';
import { chatRoom, schemas, userRoom } from '@switchboard/protocol';
import type { RoomAccess } from './access';
import type { MembershipEvents } from './membership-events';
import type { RoomsService } from './index';

export interface RoomSocketDeps {
  rooms: RoomsService;
  access: RoomAccess;
  membershipEvents: MembershipEvents;
  events: EventBus;
  metrics: Metrics;
  /** Chat rooms one socket may be in at once (ROOMS_PER_SOCKET_MAX). */
  maxRoomsPerSocket: number;
}

const CHAT_ROOM_PREFIX = chatRoom('');

/** The chat rooms a socket is in, from its Socket.IO rooms (updated as soon as join or leave is called). */
function chatRoomCount(socket: MainSocket): number {
  let n = 0;
  for (const room of socket.rooms) if (room.startsWith(CHAT_ROOM_PREFIX)) n++;
  return n;
}

/**
 * room:join, room:leave and room:create. A join is admitted by RoomAccess
 * (a public room makes the user a member; a private room or a direct
 * conversation needs them to be one) before the socket joins the room for
 * delivery. room:leave ends the user's membership, so every socket of theirs,
 * on every replica, leaves the room. A disconnect leaves every room of that
 * socket only; each leave is announced like room:leave.
 */
export function roomSocket(io: MainServer, { rooms, access, membershipEvents, events, metrics, maxRoomsPerSocket }: RoomSocketDeps): SocketCapability<'room:join' | 'room:leave' | 'room:create'> {
  const announce = (type: 'join' | 'leave', room: string, userId: string) => {
    const event = { type, room, userId };
    metrics.broadcasts.inc({ event: 'room:event' });
    io.to(chatRoom(room)).emit('room:event', event);
    events.publish('room', { ...event, ts: Date.now() });
  };
  const leaveHere = async (socketId: string, room: string, userId: string) => {
    io.of('/').sockets.get(socketId)?.leave(chatRoom(room));
    if (await rooms.leave(socketId, room)) announce('leave', room, userId);
  };

  // A membership that ended on any replica: this replica's sockets of that user leave the room too.
  membershipEvents.on((change) => {
    if (change.change !== 'removed') return;
    for (const socketId of io.of('/').adapter.rooms.get(userRoom(change.userId)) ?? []) {
      if (rooms.isMember(socketId, change.room)) void leaveHere(socketId, change.room, change.userId).catch(() => undefined);
    }
  });

  /** Per socket, the rooms whose join waits for its membership: they count against the cap already. */
  const joining = new WeakMap<MainSocket, Set<string>>();

  return {
    routes: {
      'room:join': {
        schema: schemas.roomJoin,
        limit: 'joins',
        async handle(socket, { room }) {
          const { userId } = socket.data.user;
          // Checked before the membership is stored (a refused join must not make one), counting the
          // joins of this socket still waiting for theirs, so joins sent together cannot pass the cap
          // together; a rejoin is always fine.
          let pending = joining.get(socket);
          const counted = socket.rooms.has(chatRoom(room)) || pending?.has(room);
          if (!counted && chatRoomCount(socket) + (pending?.size ?? 0) >= maxRoomsPerSocket) {
            throw new AppError('VALIDATION', `this socket is in ${maxRoomsPerSocket} rooms, the most it may be in: leave one first`);
          }
          if (!pending) joining.set(socket, (pending = new Set()));
          if (!counted) pending.add(room);
          let settings;
          try {
            settings = await access.join(userId, room);
            await socket.join(chatRoom(room));
          } finally {
            if (!counted) pending.delete(room);
          }
          const members = await rooms.join(socket.id, userId, room);
          announce('join', room, userId);
          return { room, members, kind: settings.kind === 'dm' ? 'dm' : 'room', private: settings.kind !== 'public' };
        },
      },
      'room:leave': {
        schema: schemas.roomLeave,
        limit: 'joins',
        async handle(socket, { room }) {
          const { userId } = socket.data.user;
          await leaveHere(socket.id, room, userId);
          // The membership ends (not a direct conversation's): MembershipEvents takes the user's other sockets out.
          await access.leave(userId, room);
        },
      },
      'room:create': {
        schema: schemas.roomCreate,
        limit: 'joins',
        async handle(socket, { room, private: isPrivate, members }) {
          const all = await access.create(socket.data.user.userId, room, isPrivate, members);
          return { room, private: isPrivate, members: all };
        },
      },
    },
    async onDisconnect(socket) {
      const left = await rooms.leaveAll(socket.id);
      for (const room of left) announce('leave', room, socket.data.user.userId);
    },
  };
}
