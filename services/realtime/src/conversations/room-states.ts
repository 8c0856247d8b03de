import type { Model } from 'mongoose';
import type { ChatMessage } from '@switchboard/protocol';
import type { ChatService } from '../chat';
import { decodeWindowMember, windowMember } from '../chat/recent-window';
import { AppError } from '../infra/errors';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import { luaScript, type RunnerOf } from '../infra/lua-scripts';
import type { Metrics } from '../infra/metrics';
import type { RedisConnections } from '../infra/redis';
import { membershipId, type MembershipDoc } from '../rooms/membership.model';
import { ROOM_STATE_TTL_MS, roomReadsKey, roomStateKey } from './keys';

const LUA = { prelude: 'positions' } as const;
type Code = 'n' | 'load' | 'fill' | 'db';
const UNREAD = luaScript<[state: string, window: string, reads: string], [generation: string, windowOn: '0' | '1', ...users: string[]], string[]>(
  'conversations',
  'unread',
  3,
  LUA,
);
const RECOUNT = luaScript<
  [state: string, window: string],
  [generation: string, ttlMs: number, mode: 'w' | 'x', anchor: string, counted: number, ...userAndCount: Array<string | number>],
  'ok' | 'retry'
>('conversations', 'recount', 2, LUA);
const SET_READ = luaScript<[reads: string], [userId: string, generation: string, readTs: number, readId: string, ttlMs: number], string>('conversations', 'set-read', 1, LUA);
const CACHE_OTHERS = luaScript<[reads: string], [userId: string, generation: string, readId: string, ob: string, count: number], 0 | 1>(
  'conversations',
  'cache-others',
  1,
  LUA,
);

/** Rounds of "do what the script asked, ask again" before a room's view is given up for now. */
const ATTEMPTS = 4;
/** Rooms per MongoDB count query of a recount. */
const RECOUNT_BATCH = 50;

/** What a user sees of one room. */
export interface UserView {
  unread: number;
  readUpTo: string | null;
}

/** One room as some of its users see it. */
export interface RoomView {
  lastMessage: ChatMessage | null;
  /** The newest message's ts, 0 without one. */
  lastTs: number;
  users: Map<string, UserView>;
}

/**
 * The conversation state of rooms, combined when read (fan-out on read): a
 * send only counts its message in its room's state, inside the one script it
 * runs anyway (chat/lua/add-to-window.lua); a user's unread count is worked
 * out from that state, the room's window and the user's read position when
 * someone asks (lua/unread.lua). What the script cannot answer from Redis it
 * asks for, and this class does it and asks again:
 * - `stale`: the state was not counted under the current window generation
 *   (new, expired, lost with Redis, or a replica reconnected since): recount it
 *   from the window and MongoDB (lua/recount.lua);
 * - `load`: a read position is not in Redis under this generation: read it
 *   from MongoDB (the memberships, its source of truth);
 * - `fill`: the window is needed and not trusted: fill it (chat);
 * - `db`: the position is older than the window: count the others' messages
 *   up to it in MongoDB once, cached beside the position until a message lands
 *   below it.
 */
export class RoomStates {
  private readonly unread: RunnerOf<typeof UNREAD>;
  private readonly recountScript: RunnerOf<typeof RECOUNT>;
  private readonly setRead: RunnerOf<typeof SET_READ>;
  private readonly cacheOthers: RunnerOf<typeof CACHE_OTHERS>;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly chat: ChatService,
    private readonly memberships: Model<MembershipDoc>,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.unread = UNREAD.on(redis.command);
    this.recountScript = RECOUNT.on(redis.command);
    this.setRead = SET_READ.on(redis.command);
    this.cacheOthers = CACHE_OTHERS.on(redis.command);
  }

  /**
   * Each room as the given users see it. Rooms or users that could not be
   * worked out (MongoDB away while needed) are left out. UNAVAILABLE while
   * Redis is away.
   */
  async views(requests: Array<{ room: string; users: string[] }>): Promise<Map<string, RoomView>> {
    const generation = await this.chat.generation();
    if (generation === undefined) throw new AppError('UNAVAILABLE', 'conversations are unavailable while Redis is, retry');
    const gen = String(generation);
    const out = new Map<string, RoomView>();
    let pending = requests.filter((r) => r.users.length > 0);
    for (let attempt = 0; attempt < ATTEMPTS && pending.length > 0; attempt++) {
      const replies = await Promise.all(pending.map((r) => this.ask(r.room, r.users, gen)));
      const stale: string[] = [];
      const work: Array<Promise<void>> = [];
      const next: typeof pending = [];
      replies.forEach((reply, i) => {
        const { room } = pending[i];
        if (reply.state === 'stale') {
          stale.push(room);
          next.push(pending[i]);
          return;
        }
        const view = out.get(room) ?? { lastMessage: reply.lastMessage, lastTs: reply.lastTs, users: new Map() };
        view.lastMessage = reply.lastMessage;
        view.lastTs = reply.lastTs;
        out.set(room, view);
        const again: string[] = [];
        let fill = false;
        for (const u of reply.users) {
          if (u.code === 'n') {
            view.users.set(u.userId, { unread: u.value, readUpTo: u.readId || null });
            continue;
          }
          again.push(u.userId);
          if (u.code === 'load') work.push(this.load(room, u.userId, gen));
          else if (u.code === 'fill') fill = true;
          else work.push(this.countOthers(room, u.userId, u.value, u.readId, reply.ob, gen));
        }
        if (fill) work.push(this.chat.trustedWindow(room).then(() => undefined));
        if (again.length > 0) next.push({ room, users: again });
      });
      if (stale.length > 0) work.push(this.recount(stale, gen));
      // A step that fails (MongoDB away) leaves its room for the next round, and out of the answer after the last.
      await Promise.all(work.map((w) => w.catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'conversation state step failed'))));
      pending = next;
    }
    return out;
  }

  private async ask(room: string, users: string[], gen: string) {
    const reply = await this.unread([roomStateKey(this.keys, room), this.chat.windowKey(room), roomReadsKey(this.keys, room)], [gen, this.chat.windowEnabled ? '1' : '0', ...users]);
    const [state, lm, lt, ob] = reply;
    const parsed: Array<{ userId: string; code: Code; value: number; readId: string }> = [];
    for (let i = 4, u = 0; i < reply.length; i += 3, u++) parsed.push({ userId: users[u], code: reply[i] as Code, value: Number(reply[i + 1]), readId: reply[i + 2] });
    return { state: state as 'ok' | 'stale', lastMessage: lm ? decodeWindowMember(lm) : null, lastTs: Number(lt), ob, users: parsed };
  }

  /** Loads a read position from its membership in MongoDB (none: never read, or not a member). */
  private async load(room: string, userId: string, gen: string): Promise<void> {
    const doc = await this.memberships.findById(membershipId(userId, room), { readTs: 1, readId: 1 }).lean<Pick<MembershipDoc, 'readTs' | 'readId'>>();
    await this.setRead([roomReadsKey(this.keys, room)], [userId, gen, doc?.readTs ?? 0, doc?.readId ?? '', ROOM_STATE_TTL_MS]);
  }

  /** Writes a read position through after message:read stored it in MongoDB. */
  async positionStored(room: string, userId: string, readTs: number, readId: string): Promise<void> {
    const generation = await this.chat.generation();
    if (generation === undefined) return; // Redis away: positions written under the old generation are reloaded after the bump
    await this.setRead([roomReadsKey(this.keys, room)], [userId, String(generation), readTs, readId, ROOM_STATE_TTL_MS]);
  }

  private async countOthers(room: string, userId: string, readTs: number, readId: string, ob: string, gen: string): Promise<void> {
    this.metrics.conversationReadCounts.inc();
    const count = await this.chat.countOthersUpTo(room, userId, readTs, readId);
    await this.cacheOthers([roomReadsKey(this.keys, room)], [userId, gen, readId, ob, count]);
  }

  /**
   * Recounts rooms' states: each room's window is made trusted first, then
   * MongoDB counts what lies before the window's oldest message (nothing when
   * the window holds the room's whole history), and the script adds the window.
   */
  private async recount(rooms: string[], gen: string): Promise<void> {
    this.metrics.conversationRecounts.inc(rooms.length);
    if (!this.chat.windowEnabled) return this.recountWithoutWindow(rooms, gen);
    const windows = await Promise.all(rooms.map(async (room) => ({ room, window: await this.chat.trustedWindow(room) })));
    const ready = windows.filter((w): w is { room: string; window: NonNullable<typeof w.window> } => w.window !== undefined);
    const older = ready.filter((w) => !w.window.complete && w.window.messages.length > 0);
    const counts = new Map<string, Map<string, number>>();
    for (let i = 0; i < older.length; i += RECOUNT_BATCH) {
      const batch = older.slice(i, i + RECOUNT_BATCH).map(({ room, window }) => ({ room, before: { ts: window.messages[0].ts, id: window.messages[0].id } }));
      for (const [room, bySender] of await this.chat.countBySender(batch)) counts.set(room, bySender);
    }
    await Promise.all(
      ready.map(({ room, window }) => {
        const oldest = window.messages[0];
        const anchor = window.complete || !oldest ? '' : windowMember(oldest);
        return this.writeCount(room, gen, 'w', anchor, counts.get(room) ?? new Map());
      }),
    );
  }

  /** HISTORY_WINDOW=0: every message counted in MongoDB (a send stored meanwhile may be counted twice until the next recount). */
  private async recountWithoutWindow(rooms: string[], gen: string): Promise<void> {
    for (let i = 0; i < rooms.length; i += RECOUNT_BATCH) {
      const batch = rooms.slice(i, i + RECOUNT_BATCH);
      const counts = await this.chat.countBySender(batch.map((room) => ({ room })));
      await Promise.all(
        batch.map(async (room) => {
          const newest = await this.chat.newestOf(room);
          await this.writeCount(room, gen, 'x', newest ? windowMember(newest) : '', counts.get(room) ?? new Map());
        }),
      );
    }
  }

  private async writeCount(room: string, gen: string, mode: 'w' | 'x', anchor: string, bySender: Map<string, number>): Promise<void> {
    const counted = [...bySender.values()].reduce((a, b) => a + b, 0);
    await this.recountScript([roomStateKey(this.keys, room), this.chat.windowKey(room)], [gen, ROOM_STATE_TTL_MS, mode, anchor, counted, ...[...bySender].flat()]);
  }

  /** Each room's newest message's ts as Redis last counted it (0: none; null: no state there), for ordering a list. */
  async lastActivity(rooms: string[]): Promise<Array<number | null>> {
    if (rooms.length === 0) return [];
    const p = this.redis.batch();
    for (const room of rooms) p.hget(roomStateKey(this.keys, room), 'lt');
    const res = (await p.exec()) ?? [];
    return res.map(([err, lt]) => (err || lt === null ? null : Number(lt)));
  }

  /** Recounts the rooms that have no state in Redis (a list's ordering needs every room's). */
  async recountMissing(rooms: string[]): Promise<void> {
    if (rooms.length === 0) return;
    const generation = await this.chat.generation();
    if (generation === undefined) throw new AppError('UNAVAILABLE', 'conversations are unavailable while Redis is, retry');
    await this.recount(rooms, String(generation));
  }
}
