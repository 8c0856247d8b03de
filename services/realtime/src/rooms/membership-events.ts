import type { MainServer } from '../gateway/sockets';
import type { Logger } from '../infra/logger';
import type { MembershipChange } from './access';

/**
 * Durable membership changes, told to every replica: this one's handlers at
 * once, the others' through the adapter (serverSideEmit). A replica that
 * misses one (Redis away) catches up when its clients call conversations:list
 * again, which they do after sync:required and every reconnect.
 */
export class MembershipEvents {
  private readonly handlers: Array<(change: MembershipChange) => void> = [];
  private io?: MainServer;

  constructor(private readonly log: Logger) {}

  /** Listens to the other replicas' changes; call once the Socket.IO server exists. */
  attach(io: MainServer): void {
    this.io = io;
    io.on('membership', (change) => this.deliver(change));
  }

  on(handler: (change: MembershipChange) => void): void {
    this.handlers.push(handler);
  }

  publish(change: MembershipChange): void {
    this.deliver(change);
    try {
      this.io?.serverSideEmit('membership', change);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not tell the other replicas of a membership change');
    }
  }

  private deliver(change: MembershipChange): void {
    for (const handler of this.handlers) {
      try {
        handler(change);
      } catch (err) {
        this.log.error({ err }, 'membership change handler failed');
      }
    }
  }
}
