import type { Socket } from 'socket.io';
import type { AuthService } from '../auth';
import type { SessionUser } from '@switchboard/protocol';

/** What the check needs of a socket of any namespace. */
type HandshakeSocket = Pick<Socket, 'handshake'> & { data: { user?: SessionUser } };

/**
 * Handshake check shared by every namespace: a valid token naming a live
 * session, or `connect_error` with the message `unauthorized` (never more
 * detail: a client cannot tell a forged token from a revoked one).
 */
export function tokenAuth(auth: AuthService) {
  return (socket: HandshakeSocket, next: (err?: Error) => void) => {
    auth
      .authenticate(socket.handshake.auth?.token)
      .then((user) => {
        if (!user) return next(new Error('unauthorized'));
        socket.data.user = user;
        next();
      })
      // authenticate() throws only for a bug (Redis being away is answered inside): still no way in, and no detail out.
      .catch(() => next(new Error('unauthorized')));
  };
}
