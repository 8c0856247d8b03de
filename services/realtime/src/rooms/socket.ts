import type { EventBus } from '../events';
import type { MainServer, MainSocket, SocketCapability } from '../gateway/sockets';
import { AppError } from '../infra/errors';
import type { Metrics } from '../infra/metrics';
import { chatRoom, schemas } from '@switchboard/protocol';
import type { RoomsService } from './index';

export interface RoomSocketDeps {
  rooms: RoomsService;
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

/** room:join and room:leave; a disconnect leaves every room, and each leave is announced like room:leave. */
export function roomSocket(io: MainServer, { rooms, events, metrics, maxRoomsPerSocket }: RoomSocketDeps): SocketCapability<'room:join' | 'room:leave'> {
  const announce = (type: 'join' | 'leave', room: string, userId: string) => {
    const event = { type, room, userId };
    metrics.broadcasts.inc({ event: 'room:event' });
    io.to(chatRoom(room)).emit('room:event', event);
    events.publish('room', { ...event, ts: Date.now() });
  };

  return {
    routes: {
      'room:join': {
        schema: schemas.roomJoin,
        limit: 'joins',
        async handle(socket, { room }) {
          const { userId } = socket.data.user;
          // Checked and joined in one tick, so joins sent together cannot pass the cap together; a rejoin is always fine.
          if (!socket.rooms.has(chatRoom(room)) && chatRoomCount(socket) >= maxRoomsPerSocket) {
            throw new AppError('VALIDATION', `this socket is in ${maxRoomsPerSocket} rooms, the most it may be in: leave one first`);
          }
          await socket.join(chatRoom(room));
          const members = await rooms.join(socket.id, userId, room);
          announce('join', room, userId);
          return { room, members };
        },
      },
      'room:leave': {
        schema: schemas.roomLeave,
        limit: 'joins',
        async handle(socket, { room }) {
          await socket.leave(chatRoom(room));
          if (await rooms.leave(socket.id, room)) announce('leave', room, socket.data.user.userId);
        },
      },
    },
    async onDisconnect(socket) {
      const left = await rooms.leaveAll(socket.id);
      for (const room of left) announce('leave', room, socket.data.user.userId);
    },
  };
}
