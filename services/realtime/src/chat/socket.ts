import type { Config } from '../config';
import type { MainServer, SocketCapability } from '../gateway/sockets';
import { AppError } from '../infra/errors';
import type { Metrics } from '../infra/metrics';
import type { Reminders } from '../jobs/reminders';
import { chatRoom, schemas, type ChatMessage } from '@switchboard/protocol';
import type { RoomsService } from '../rooms';
import type { ChatService } from './index';

export interface ChatSocketDeps {
  chat: ChatService;
  rooms: Pick<RoomsService, 'isMember'>;
  /** Every broadcast message may start or cancel reminders. */
  reminders: Pick<Reminders, 'onMessage'>;
  metrics: Metrics;
  config: Pick<Config, 'MESSAGE_MAX_CHARS' | 'HISTORY_SYNC_MAX' | 'MENTIONS_PER_MESSAGE_MAX'>;
}

/** message:send, history:sync and typing, for the rooms a socket joined. */
export function chatSocket(io: MainServer, { chat, rooms, reminders, metrics, config }: ChatSocketDeps): SocketCapability<'message:send' | 'history:sync' | 'typing'> {
  const broadcast = (message: ChatMessage, answered: readonly string[]) => {
    metrics.broadcasts.inc({ event: 'message:new' });
    const started = performance.now();
    io.to(chatRoom(message.room)).emit('message:new', message);
    metrics.sendStage.observe({ stage: 'broadcast' }, (performance.now() - started) / 1000);
    void reminders.onMessage(message, answered);
  };
  // A write that outran its deadline and was stored after all: its sender heard UNAVAILABLE, the room hears it now.
  // (Reminders it answers are not taken here: each checks for an answer when it fires.)
  chat.onLateMessage((message) => broadcast(message, []));

  return {
    routes: {
      'message:send': {
        schema: schemas.messageSend(config.MESSAGE_MAX_CHARS, config.MENTIONS_PER_MESSAGE_MAX),
        limit: 'messages',
        authorize(socket, { room }) {
          if (!rooms.isMember(socket.id, room)) throw new AppError('FORBIDDEN', `join ${room} before sending to it`);
        },
        async handle(socket, { room, text, clientMsgId }) {
          // One socket's sends are stored and broadcast in the order it sent them.
          // Storing starts at once: the writer stores first in, first out, so a
          // socket's messages keep their order without waiting for each other.
          // Only the broadcasts wait for this socket's earlier sends, so a fast
          // sender is limited by the database's throughput, not by its latency.
          const data = socket.data;
          const storing = chat.send(data.user.userId, room, text, clientMsgId);
          storing.catch(() => undefined); // answered below, in turn: not an unhandled rejection meanwhile
          const turn = (data.sendChain ?? Promise.resolve()).then(() => storing);
          data.sendChain = turn.catch(() => undefined); // the next send waits for this one's turn, not its success; its error is answered below
          const { message, duplicate, answered } = await turn;
          // Persisted first; a retry of a stored message is not broadcast again
          // (clients that missed the first broadcast get it from history:sync).
          if (!duplicate) broadcast(message, answered);
          return { message, duplicate };
        },
      },
      'history:sync': {
        schema: schemas.historySync,
        // Any room name may cost a MongoDB read and a Redis window.
        limit: 'history',
        async handle(_socket, { room, after }) {
          return await chat.since(room, after, config.HISTORY_SYNC_MAX);
        },
      },
      typing: {
        schema: schemas.typing,
        limit: 'typing',
        authorize(socket, { room }) {
          if (!rooms.isMember(socket.id, room)) throw new AppError('FORBIDDEN', `join ${room} first`);
        },
        async handle(socket, { room, typing }) {
          socket.to(chatRoom(room)).emit('typing', { room, userId: socket.data.user.userId, typing });
        },
      },
    },
  };
}
