import type { Socket } from 'socket.io';
import type { AuthService } from '../auth';

/**
 * Handshake check shared by every namespace: a valid token naming a live
 * session, or `connect_error` with the message `unauthorized` (never more
 * detail: a client cannot tell a forged token from a revoked one).
 */
export function tokenAuth(auth: AuthService) {
  return (socket: Socket, next: (err?: Error) => void) => {
    auth
      .authenticate(socket.handshake.auth?.token)
      .then((user) => {
        if (!user) return next(new Error('unauthorized'));
        socket.data.user = user;
        next();
      })
      .catch(() => next(new Error('unauthorized')));
  };
}
