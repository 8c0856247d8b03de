import type { EventBus } from '../events';
import type { MainServer, SocketCapability } from '../gateway/sockets';
import type { Metrics } from '../infra/metrics';
import { chatRoom, schemas } from '@switchboard/protocol';
import type { RoomsService } from './index';

export interface RoomSocketDeps {
  rooms: RoomsService;
  events: EventBus;
  metrics: Metrics;
}

/** room:join and room:leave; a disconnect leaves every room, and each leave is announced like room:leave. */
export function roomSocket(io: MainServer, { rooms, events, metrics }: RoomSocketDeps): SocketCapability<'room:join' | 'room:leave'> {
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
