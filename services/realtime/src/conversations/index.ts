import type { Model } from 'mongoose';
import {
  chatRoom,
  conversationsRoom,
  userRoom,
  type Conversation,
  type ConversationPage,
} from '@switchboard/protocol';
import type { ChatService } from '../chat';
import type { MainServer, MainSocket } from '../gateway/sockets';
import { AppError, orUnavailable } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import type { MembershipChange, RoomAccess } from '../rooms/access';
import { membershipId, type MembershipDoc } from '../rooms/membership.model';
import type { RoomStates, RoomView } from './room-states';
import type { Membership, UserConversations } from './user-cache';
import { Watchers } from './watchers';

/** How often each replica turns the rooms that had messages into conversation:update (docs/protocol.md). */
export const CONVERSATIONS_PUSH_MS = 1000;

/** The answer while Redis, which holds every conversation's state, does not answer. */
const REDIS_AWAY = 'conversations are unavailable while Redis is, retry';

export interface ConversationDeps {
  chat: ChatService;
  access: RoomAccess;
  users: UserConversations;
  states: RoomStates;
  log: Logger;
  metrics: Metrics;
  /** How often rooms with new messages are turned into conversation:update. */
  pushMs: number;
}

/**
 * A user's conversations: the rooms they are members of and their direct
 * conversations, newest activity first, each with its last message and the
 * user's unread count (GET /api/conversations, conversations:list); read
 * positions (message:read) with receipts; and conversation:update for the
 * sockets that subscribed.
 *
 * Fan-out on read: a message costs its room one count in the script its send
 * runs anyway, and nothing per member. The list combines the user's
 * memberships (user-cache.ts) with each room's state (room-states.ts) when it
 * is read. Updates for new messages are aggregated: every `pushMs` each
 * replica tells the others which rooms had messages (one message per
 * replica, whatever the rooms' sizes), and each replica works out the counts
 * of its own subscribed sockets' users only.
 */
export class ConversationService {
  private readonly watchers = new Watchers();
  private touchedRooms = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private io?: MainServer;
  private pushing = false;
  private readonly memberships: Model<MembershipDoc>;

  constructor(private readonly deps: ConversationDeps) {
    this.memberships = deps.access.memberships;
    this.timer = setInterval(() => void this.pushTouched(), deps.pushMs);
    this.timer.unref();
  }

  /** Hears the other replicas' touched rooms; call once the Socket.IO server exists. */
  attach(io: MainServer): void {
    this.io = io;
    io.on('conversations:touched', (rooms) => void this.updateWatchers(rooms));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A message of the room was broadcast: its members' conversations change at the next push. In memory, nothing more. */
  touched(room: string): void {
    this.touchedRooms.add(room);
  }

  private async pushTouched(): Promise<void> {
    if (this.touchedRooms.size === 0 || this.pushing) return;
    const rooms = [...this.touchedRooms];
    this.touchedRooms = new Set();
    this.pushing = true;
    try {
      try {
        this.io?.serverSideEmit('conversations:touched', rooms);
      } catch (err) {
        this.deps.log.debug({ err: (err as Error).message }, 'could not tell the other replicas of touched rooms');
      }
      await this.updateWatchers(rooms);
    } finally {
      this.pushing = false;
    }
  }

  /** conversation:update for this replica's subscribed sockets whose users are members of the rooms. */
  private async updateWatchers(rooms: string[]): Promise<void> {
    const requests = rooms.map((room) => ({ room, users: this.watchers.watchersOf(room) })).filter((r) => r.users.length > 0);
    if (requests.length === 0) return;
    try {
      const views = await this.deps.states.views(requests.map((r) => ({ room: r.room, users: this.withPeers(r.room, r.users) })));
      for (const { room, users } of requests) {
        const view = views.get(room);
        if (!view) continue;
        for (const userId of users) {
          const m = this.watchers.membershipOf(userId, room);
          const item = m && toConversation(room, m, view, userId);
          if (item) this.io?.local.to(conversationsRoom(userId)).emit('conversation:update', item);
        }
      }
    } catch (err) {
      this.deps.log.debug({ err: (err as Error).message }, 'conversation updates skipped');
    }
  }

  /** The users to ask a room's view for: these, and the other user of their direct conversations (their read position). */
  private withPeers(room: string, users: string[]): string[] {
    const all = new Set(users);
    for (const u of users) {
      const peer = this.watchers.membershipOf(u, room)?.with;
      if (peer) all.add(peer);
    }
    return [...all];
  }

  /**
   * A page of the user's conversations, newest activity first. `socket`
   * subscribes to conversation:update and conversation:removed.
   */
  async list(userId: string, limit: number, cursor: string | undefined, socket?: MainSocket): Promise<ConversationPage> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    return orUnavailable(async () => {
      const memberships = await this.deps.users.load(userId);
      if (socket) {
        this.watchers.watch(userId, socket.id, memberships);
        await socket.join(conversationsRoom(userId));
      }
      const rooms = [...memberships.keys()];
      let last = await this.deps.states.lastActivity(rooms);
      const missing = rooms.filter((_, i) => last[i] === null);
      if (missing.length > 0) {
        // Rooms Redis has no state of (never counted, expired, lost): counted now, so the order is right.
        await this.deps.states.recountMissing(missing);
        last = await this.deps.states.lastActivity(rooms);
      }
      const ordered = rooms
        .map((room, i) => ({ room, m: memberships.get(room)!, lastTs: last[i] ?? 0 }))
        // A direct conversation someone else opened shows once it has a message.
        .filter((c) => !(c.m.quiet && c.lastTs === 0))
        .map((c) => ({ ...c, activity: Math.max(c.lastTs, c.m.joinedAt) }))
        .sort((a, b) => b.activity - a.activity || (a.room < b.room ? -1 : a.room > b.room ? 1 : 0))
        .filter((c) => !after || c.activity < after.activity || (c.activity === after.activity && c.room > after.room));
      const page = ordered.slice(0, limit);
      const views = await this.deps.states.views(page.map((c) => ({ room: c.room, users: c.m.with ? [userId, c.m.with] : [userId] })));
      const conversations = page.map((c) => toConversation(c.room, c.m, views.get(c.room), userId));
      if (conversations.some((c) => c === undefined)) throw new AppError('UNAVAILABLE', 'conversation state is unavailable, retry');
      const more = ordered.length > limit;
      const tail = page.at(-1);
      return { conversations: conversations as Conversation[], nextCursor: more && tail ? encodeCursor(tail.activity, tail.room) : null };
    }, REDIS_AWAY);
  }

  /**
   * message:read: moves the user's read position in the room forward to
   * `upTo` (a message of the room), durably in MongoDB first. The user's
   * subscribed sockets get conversation:update; when the position moved, the
   * other user of a direct conversation (all their devices) and the members
   * in a private room who have it open get `receipt`. Public rooms send no
   * receipts: their membership is open-ended, and a receipt per read per
   * member costs each message a delivery per pair of members.
   */
  async markRead(userId: string, room: string, upTo: string): Promise<{ room: string; upTo: string; unread: number | null }> {
    // Membership first: whether an id is a message of a room is for its members to learn.
    await this.deps.access.requireMember(userId, room);
    const message = await this.deps.chat.messageOf(room, upTo);
    const id = membershipId(userId, room);
    let position = { readTs: message.ts, readId: message.id };
    let moved: boolean;
    try {
      const res = await this.memberships.updateOne(
        { _id: id, $or: [{ readTs: { $lt: message.ts } }, { readTs: message.ts, readId: { $lt: message.id } }] },
        { $set: { readTs: message.ts, readId: message.id } },
      );
      moved = res.matchedCount === 1;
      if (!moved) {
        const doc = await this.memberships.findById(id, { readTs: 1, readId: 1 }).lean<Pick<MembershipDoc, 'readTs' | 'readId'>>();
        if (!doc) throw new AppError('FORBIDDEN', `you are not a member of ${room}: room:join it first`);
        position = { readTs: doc.readTs, readId: doc.readId };
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      this.deps.log.warn({ err: (err as Error).message }, 'could not store a read position');
      throw new AppError('UNAVAILABLE', 'read positions are unavailable, retry');
    }

    const settings = await this.deps.access.settingsOf(room);
    const peer = settings?.kind === 'dm' ? settings.users?.find((u) => u !== userId) : undefined;
    let unread: number | null = null;
    try {
      await this.deps.states.positionStored(room, userId, position.readTs, position.readId);
      const view = (await this.deps.states.views([{ room, users: peer ? [userId, peer] : [userId] }])).get(room);
      unread = view?.users.get(userId)?.unread ?? null;
      const membership: Membership = { kind: settings?.kind ?? 'public', ...(peer ? { with: peer } : {}), joinedAt: 0 };
      const item = view && toConversation(room, membership, view, userId);
      if (item) this.io?.to(conversationsRoom(userId)).emit('conversation:update', item);
    } catch (err) {
      // Redis away: the position is stored; counts follow once Redis is back (the generation bump reloads positions).
      this.deps.log.debug({ err: (err as Error).message }, 'read position not written to Redis');
    }
    if (moved) {
      const receipt = { room, userId, upTo: position.readId, ts: Date.now() };
      if (peer) this.io?.to(userRoom(peer)).emit('receipt', receipt);
      else if (settings?.kind === 'private') this.io?.to(chatRoom(room)).except(userRoom(userId)).emit('receipt', receipt);
    }
    return { room, upTo: position.readId, unread };
  }

  /** On the replica that made a membership change: the user's cache, written through. */
  async membershipChanged(change: MembershipChange): Promise<void> {
    await this.deps.users.changed(change).catch((err: unknown) => this.deps.log.warn({ err: (err as Error).message }, 'could not write a membership change to the cache'));
  }

  /** On every replica: a membership change reaches the user's subscribed sockets here. */
  onMembership(change: MembershipChange): void {
    if (!this.watchers.isWatched(change.userId)) return;
    if (change.change === 'removed') {
      this.watchers.drop(change.userId, change.room);
      this.io?.local.to(conversationsRoom(change.userId)).emit('conversation:removed', { room: change.room });
      return;
    }
    const m: Membership = { kind: change.kind, ...(change.with ? { with: change.with } : {}), ...(change.quiet ? { quiet: true } : {}), joinedAt: change.joinedAt };
    this.watchers.add(change.userId, change.room, m);
    // The other side of a new direct conversation hears of it with its first message.
    if (!change.quiet) void this.updateOne(change.userId, change.room);
  }

  private async updateOne(userId: string, room: string): Promise<void> {
    try {
      const m = this.watchers.membershipOf(userId, room);
      if (!m) return;
      const view = (await this.deps.states.views([{ room, users: m.with ? [userId, m.with] : [userId] }])).get(room);
      const item = view && toConversation(room, m, view, userId);
      if (item) this.io?.local.to(conversationsRoom(userId)).emit('conversation:update', item);
    } catch (err) {
      this.deps.log.debug({ err: (err as Error).message }, 'conversation update skipped');
    }
  }

  onDisconnect(socket: MainSocket): void {
    this.watchers.unwatch(socket.data.user.userId, socket.id);
  }
}

/** A conversation as the protocol shapes it; undefined when the room's view lacks the user. */
function toConversation(room: string, m: Membership, view: RoomView | undefined, userId: string): Conversation | undefined {
  const mine = view?.users.get(userId);
  if (!view || !mine) return undefined;
  const dm = m.kind === 'dm';
  return {
    room,
    kind: dm ? 'dm' : 'room',
    private: m.kind !== 'public',
    ...(m.with ? { with: m.with } : {}),
    lastMessage: view.lastMessage,
    unread: mine.unread,
    lastActivity: Math.max(view.lastTs, m.joinedAt),
    readUpTo: mine.readUpTo,
    ...(dm ? { peerReadUpTo: (m.with && view.users.get(m.with)?.readUpTo) ?? null } : {}),
  };
}

function encodeCursor(activity: number, room: string): string {
  return Buffer.from(JSON.stringify([activity, room])).toString('base64url');
}

function decodeCursor(cursor: string): { activity: number; room: string } {
  try {
    const [activity, room] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[];
    if (typeof activity === 'number' && Number.isFinite(activity) && typeof room === 'string') return { activity, room };
  } catch {
    // falls through
  }
  throw new AppError('VALIDATION', 'cursor must be the nextCursor of a previous page');
}
