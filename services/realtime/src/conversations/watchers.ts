import type { Membership } from './user-cache';

interface Watcher {
  /** This replica's sockets of the user that subscribed. */
  sockets: Set<string>;
  rooms: Map<string, Membership>;
}

/**
 * This replica's sockets that asked for conversation updates (conversations:list
 * subscribes them), indexed by room: a room with new messages is turned into
 * updates for the local watchers that are its members, and nobody else.
 * Memory: one entry per conversation of each user watching here.
 */
export class Watchers {
  private readonly users = new Map<string, Watcher>();
  private readonly byRoom = new Map<string, Set<string>>();

  /** A socket of the user subscribed, with the user's conversations as just read. */
  watch(userId: string, socketId: string, rooms: Map<string, Membership>): void {
    const w = this.users.get(userId) ?? { sockets: new Set<string>(), rooms: new Map<string, Membership>() };
    w.sockets.add(socketId);
    this.users.set(userId, w);
    for (const room of w.rooms.keys()) if (!rooms.has(room)) this.drop(userId, room);
    for (const [room, m] of rooms) this.add(userId, room, m);
  }

  unwatch(userId: string, socketId: string): void {
    const w = this.users.get(userId);
    if (!w?.sockets.delete(socketId) || w.sockets.size > 0) return;
    for (const room of w.rooms.keys()) this.unindex(userId, room);
    this.users.delete(userId);
  }

  isWatched(userId: string): boolean {
    return this.users.has(userId);
  }

  membershipOf(userId: string, room: string): Membership | undefined {
    return this.users.get(userId)?.rooms.get(room);
  }

  /** A membership began: indexed when its user watches here. */
  add(userId: string, room: string, m: Membership): void {
    const w = this.users.get(userId);
    if (!w) return;
    w.rooms.set(room, m);
    const set = this.byRoom.get(room) ?? new Set<string>();
    set.add(userId);
    this.byRoom.set(room, set);
  }

  drop(userId: string, room: string): void {
    this.users.get(userId)?.rooms.delete(room);
    this.unindex(userId, room);
  }

  /** The local watchers that are members of the room. */
  watchersOf(room: string): string[] {
    return [...(this.byRoom.get(room) ?? [])];
  }

  private unindex(userId: string, room: string): void {
    const set = this.byRoom.get(room);
    if (!set) return;
    set.delete(userId);
    if (set.size === 0) this.byRoom.delete(room);
  }
}
