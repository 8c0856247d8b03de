import {
  PRESENCE_ALL_ROOM,
  presenceUserRoom,
  type PresenceEntry,
  type PresenceSnapshot,
  type PresenceSubscription,
  type PresenceUpdate,
} from '@switchboard/protocol';
import type { MainServer, MainSocket } from '../gateway/sockets';
import { AppError } from '../infra/errors';
import type { PresenceService } from './index';

const USER_ROOM_PREFIX = presenceUserRoom('');

const roomsOf = (sub: PresenceSubscription): string[] => ('all' in sub ? [PRESENCE_ALL_ROOM] : sub.userIds.map(presenceUserRoom));

/**
 * Opt-in presence: `presence:update` goes only to sockets that subscribed to
 * that user (or to everyone), not to every socket. Broadcasting each change to
 * all N sockets made a connect ramp of N sockets cost ~N^2 deliveries.
 *
 * Subscriptions are Socket.IO rooms (packages/protocol/src/rooms.ts), so the adapter routes
 * them across replicas and they end with the socket (a reconnecting client
 * subscribes again).
 */
export class PresenceSubscriptions {
  constructor(
    private readonly presence: PresenceService,
    /** Users one socket may be subscribed to by id at once (PRESENCE_IDS_PER_SOCKET_MAX). */
    private readonly maxIdsPerSocket: number,
  ) {}

  /**
   * Joins the rooms first, then reads the snapshot: a change made in between
   * is in the snapshot or arrives as an update, never lost between the two.
   * A subscription that would take the socket over its cap of ids is refused
   * whole (VALIDATION), checked and joined in one tick.
   */
  async subscribe(socket: MainSocket, sub: PresenceSubscription): Promise<PresenceSnapshot> {
    if ('userIds' in sub) {
      let subscribed = 0;
      for (const room of socket.rooms) if (room.startsWith(USER_ROOM_PREFIX)) subscribed++;
      const added = sub.userIds.filter((id) => !socket.rooms.has(presenceUserRoom(id))).length;
      if (subscribed + added > this.maxIdsPerSocket) {
        throw new AppError(
          'VALIDATION',
          `this socket would follow ${subscribed + added} users, more than ${this.maxIdsPerSocket}: unsubscribe from some first, or subscribe with all: true`,
        );
      }
    }
    await socket.join(roomsOf(sub));
    return 'all' in sub ? this.everyoneOnline() : this.statesOf(sub.userIds);
  }

  async unsubscribe(socket: MainSocket, sub: PresenceSubscription): Promise<void> {
    // Socket#leave takes one room at a time; with the in-memory adapter it is synchronous.
    await Promise.all(roomsOf(sub).map((room) => socket.leave(room)));
  }

  /** One adapter broadcast per update; a socket in both rooms gets it once. */
  broadcast(io: MainServer, update: PresenceUpdate): void {
    io.to([PRESENCE_ALL_ROOM, presenceUserRoom(update.userId)]).emit('presence:update', update);
  }

  /** The online list, as GET /api/presence gives it. */
  private async everyoneOnline(): Promise<PresenceSnapshot> {
    const { users, degraded } = await this.presence.onlineUsers();
    return withDegraded(
      users.map((u) => ({ userId: u.userId, status: u.status, online: true, devices: u.devices })),
      degraded,
    );
  }

  /** Every requested user, offline ones included. One small read per user keeps each on its own hash slot. */
  private async statesOf(userIds: string[]): Promise<PresenceSnapshot> {
    const states = await Promise.all(userIds.map((userId) => this.presence.stateOf(userId)));
    return withDegraded(
      states.map(({ online, devices, status }, i) => ({ userId: userIds[i], status, online, devices })),
      states.some((s) => s.degraded),
    );
  }
}

function withDegraded(users: PresenceEntry[], degraded: boolean): PresenceSnapshot {
  return degraded ? { users, degraded: true } : { users };
}
