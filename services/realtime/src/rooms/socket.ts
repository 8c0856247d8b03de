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

  return {
    routes: {
      'room:join': {
        schema: schemas.roomJoin,
        limit: 'joins',
        async handle(socket, { room }) {
          const { userId } = socket.data.user;
          const full = () => !socket.rooms.has(chatRoom(room)) && chatRoomCount(socket) >= maxRoomsPerSocket;
          const refuse = () => new AppError('VALIDATION', `this socket is in ${maxRoomsPerSocket} rooms, the most it may be in: leave one first`);
          // Before the membership is stored (a refused join must not make one), and again in the tick
          // that joins, so joins sent together cannot pass the cap together; a rejoin is always fine.
          if (full()) throw refuse();
          const settings = await access.join(userId, room);
          if (full()) throw refuse();
          await socket.join(chatRoom(room));
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
