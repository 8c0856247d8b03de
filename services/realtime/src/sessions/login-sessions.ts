import type { Namespace, Server, Socket } from 'socket.io';
import type { SessionUser } from '@switchboard/protocol';

/** What a login session learns of its sockets (auth/devices.ts). */
export interface SocketActivity {
  socketOpened(sessionId: string, userAgent: string | undefined): void;
  socketClosed(sessionId: string): void;
}

/**
 * Every socket of every namespace (those that exist now and any created
 * later) reports to its login session when it connects and disconnects, so
 * the user's device list counts the /dispatch sockets too. One listener per
 * socket, and no per-event work: events do not count as activity.
 */
export function reportSocketsToLoginSessions(io: Server, activity: SocketActivity): void {
  const watch = (nsp: Namespace) =>
    nsp.on('connection', (socket: Socket) => {
      // Set by the handshake check every namespace runs (gateway/auth-middleware.ts).
      const user = (socket.data as { user?: SessionUser }).user;
      if (!user) return;
      activity.socketOpened(user.sessionId, socket.handshake.headers['user-agent']);
      socket.once('disconnect', () => activity.socketClosed(user.sessionId));
    });
  for (const nsp of io._nsps.values()) watch(nsp);
  io.on('new_namespace', watch);
}
