import { CONVERSATIONS_PAGE_DEFAULT, schemas } from '@switchboard/protocol';
import type { SocketCapability } from '../gateway/sockets';
import type { RoomAccess } from '../rooms/access';
import type { ConversationService } from './index';

export interface ConversationSocketDeps {
  conversations: ConversationService;
  access: Pick<RoomAccess, 'openDm'>;
}

/** conversations:list (which subscribes the socket to conversation updates), message:read and dm:open. */
export function conversationSocket({ conversations, access }: ConversationSocketDeps): SocketCapability<'conversations:list' | 'message:read' | 'dm:open'> {
  return {
    routes: {
      'conversations:list': {
        schema: schemas.conversationsList,
        // A read: a page may rebuild the user's list or rooms' counts from MongoDB.
        limit: 'history',
        async handle(socket, { limit, cursor }) {
          return conversations.list(socket.data.user.userId, limit ?? CONVERSATIONS_PAGE_DEFAULT, cursor, socket);
        },
      },
      'message:read': {
        schema: schemas.messageRead,
        // Shares the sender's budget: a client sends one read per conversation it shows, not one per message.
        limit: 'messages',
        async handle(socket, { room, upTo }) {
          return conversations.markRead(socket.data.user.userId, room, upTo.toLowerCase());
        },
      },
      'dm:open': {
        schema: schemas.dmOpen,
        limit: 'joins',
        async handle(socket, { userId }) {
          const room = await access.openDm(socket.data.user.userId, userId);
          return { room, with: userId };
        },
      },
    },
    async onDisconnect(socket) {
      conversations.onDisconnect(socket);
    },
  };
}
