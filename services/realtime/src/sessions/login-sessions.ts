import type { Namespace, Server, Socket } from 'socket.io';
import type { SessionUser } from '@switchboard/protocol';

/** What a login session learns of its sockets (auth/devices.ts). */
export interface SocketActivity {
  socketOpened(sessionId: string, userAgent: string | undefined): void;
  /** Any event the socket sends: cheap, the receiver decides what to write. */
  active(sessionId: string): void;
  socketClosed(sessionId: string): void;
}

/**
 * Every socket of every namespace (those that exist now and any created
 * later) reports to its login session when it connects, sends something and
 * disconnects, so the user's device list counts the /dispatch sockets too.
 */
export function reportSocketsToLoginSessions(io: Server, activity: SocketActivity): void {
  const watch = (nsp: Namespace) =>
    nsp.on('connection', (socket: Socket) => {
      // Set by the handshake check every namespace runs (gateway/auth-middleware.ts).
      const user = (socket.data as { user?: SessionUser }).user;
      if (!user) return;
      activity.socketOpened(user.sessionId, socket.handshake.headers['user-agent']);
      socket.onAny(() => activity.active(user.sessionId));
      socket.once('disconnect', () => activity.socketClosed(user.sessionId));
    });
  for (const nsp of io._nsps.values()) watch(nsp);
  io.on('new_namespace', watch);
}
