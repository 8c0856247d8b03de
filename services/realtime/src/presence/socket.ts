import type { EventBus } from '../events';
import type { MainServer, SocketCapability } from '../gateway/sockets';
import type { Metrics } from '../infra/metrics';
import { schemas } from '@switchboard/protocol';
import type { UsersService } from '../users';
import type { PresenceService } from './index';
import { PresenceSubscriptions } from './subscriptions';

export interface PresenceSocketDeps {
  presence: PresenceService;
  events: EventBus;
  /** Records lastSeen when a user goes offline. */
  users: Pick<UsersService, 'markSeen'>;
  metrics: Metrics;
  /** Users one socket may be subscribed to by id at once (PRESENCE_IDS_PER_SOCKET_MAX). */
  maxIdsPerSocket: number;
}

type PresenceEvents = 'presence:set' | 'presence:subscribe' | 'presence:unsubscribe' | 'presence:heartbeat';

/** Each connection counts toward its user's presence; presence:set, the subscriptions and the heartbeat. */
export function presenceSocket(io: MainServer, { presence, events, users, metrics, maxIdsPerSocket }: PresenceSocketDeps): SocketCapability<PresenceEvents> {
  // presence:update goes to the sockets subscribed to that user or to everyone, not to all sockets.
  const subscriptions = new PresenceSubscriptions(presence, maxIdsPerSocket);
  presence.onUpdate((update) => {
    metrics.broadcasts.inc({ event: 'presence:update' });
    subscriptions.broadcast(io, update);
    events.publish('presence', update);
    // Exactly one replica announces a user offline (the one that saw the last
    // device go, or the sweeper): it records lastSeen durably.
    if (!update.online) users.markSeen(update.userId, update.ts);
  });

  return {
    routes: {
      'presence:set': {
        schema: schemas.presenceSet,
        // Fans out to every socket subscribed to everyone.
        limit: 'presence',
        async handle(socket, { status }) {
          const { userId } = socket.data.user;
          await presence.setStatus(userId, status);
          events.publish('userStatus', { userId, status, ts: Date.now() });
        },
      },
      'presence:subscribe': {
        schema: schemas.presenceSubscription,
        // Joins rooms like room:join, and reads up to PRESENCE_SUBSCRIBE_MAX_IDS users: charged the same.
        limit: 'joins',
        async handle(socket, subscription) {
          return await subscriptions.subscribe(socket, subscription);
        },
      },
      'presence:unsubscribe': {
        schema: schemas.presenceSubscription,
        limit: 'joins',
        async handle(socket, subscription) {
          await subscriptions.unsubscribe(socket, subscription);
        },
      },
      'presence:heartbeat': {
        limit: 'presence',
        async handle(socket) {
          await presence.heartbeat(socket.id);
        },
      },
    },
    onConnect(socket) {
      void presence.connect(socket.id, socket.data.user.userId);
    },
    onDisconnect: (socket) => presence.disconnect(socket.id),
  };
}
