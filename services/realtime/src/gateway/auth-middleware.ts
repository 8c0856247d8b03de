import type { Namespace, Server, Socket } from 'socket.io';
import type { AuthService } from '../auth';
import { sessionRoom, type SessionUser } from '@switchboard/protocol';

/** What the check needs of a socket of any namespace. */
type HandshakeSocket = Pick<Socket, 'handshake'> & { data: { user?: SessionUser } };

/**
 * Handshake check shared by every namespace: a valid token naming a live
 * session of its user, or `connect_error` with the message `unauthorized`
 * (never more detail: a client cannot tell a forged token from a revoked one).
 */
export function tokenAuth(auth: AuthService) {
  return (socket: HandshakeSocket, next: (err?: Error) => void) => {
    auth
      .authenticate(socket.handshake.auth?.token)
      .then((user) => {
        if (!user) return next(new Error('unauthorized'));
        const { userId, sessionId, name, roles, expiresAt } = user;
        socket.data.user = { userId, sessionId, name, roles, expiresAt };
        next();
      })
      // authenticate() throws only for a bug (Redis being away is answered inside): still no way in, and no detail out.
      .catch(() => next(new Error('unauthorized')));
  };
}

// setTimeout's longest delay; a token valid for longer is re-checked when it fires.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Ties a namespace's sockets to their session: each joins the session's room
 * (so ending the session reaches it on any replica), and is disconnected when
 * its token expires, whatever the namespace. A socket let in without a token
 * (the admin UI's password) has no session to follow.
 */
export function bindSessionLifetime(nsp: Namespace): void {
  nsp.on('connection', (socket: Socket) => {
    const user = (socket.data as { user?: SessionUser }).user;
    if (!user) return;
    const { sessionId, expiresAt } = user;
    void socket.join(sessionRoom(sessionId));
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      const left = Math.max(0, Math.min(expiresAt - Date.now(), MAX_TIMER_MS));
      timer = setTimeout(() => (Date.now() >= expiresAt ? socket.disconnect(true) : arm()), left);
      // Never the reason a replica stays up: shutdown closes every socket anyway.
      timer.unref();
    };
    arm();
    socket.once('disconnect', () => clearTimeout(timer));
  });
}

/** Disconnects every socket of a session, in every namespace, on every replica (through the adapter). */
export function endSessionSockets(io: Server, sessionId: string): void {
  for (const nsp of io._nsps.values()) nsp.in(sessionRoom(sessionId)).disconnectSockets(true);
}
