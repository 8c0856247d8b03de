import type { SocketCapability } from '../gateway/sockets';
import type { Reminders } from './reminders';

/** Reminders that fired while their user was offline go out when the user connects. */
export function reminderSocket(reminders: Pick<Reminders, 'deliverStoredOnConnect'>): SocketCapability {
  return {
    onConnect(socket) {
      reminders.deliverStoredOnConnect(socket.data.user.userId);
    },
  };
}
