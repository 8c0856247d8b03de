import type { SocketCapability } from '../gateway/sockets';
import type { SocketSessions } from './index';

/** A Redis record per connection: opened on connect, touched by every event, closed on disconnect. */
export function sessionSocket(sessions: SocketSessions): SocketCapability {
  return {
    onConnect(socket) {
      void sessions.open(socket.id, socket.data.user.userId, socket.handshake.headers['user-agent']);
      socket.onAny(() => sessions.touch(socket.id));
    },
    onDisconnect: (socket) => sessions.close(socket.id),
  };
}
