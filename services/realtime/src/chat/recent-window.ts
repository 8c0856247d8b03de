import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import { luaScript, type RunnerOf } from '../infra/lua-scripts';
import { throwOnMultiError, type RedisConnections } from '../infra/redis';
import type { ChatMessage as WindowMessage } from '@switchboard/protocol';

/**
 * Marks a window filled from the database. Its score is generation * 2, plus 1
 * while the window holds the room's whole history (cleared as soon as the
 * oldest message is trimmed away). It sorts before every message (ts scores).
 * lua/add-to-window.lua writes the same string.
 */
const FILLED = '!filled';

const ADD_TO_WINDOW = luaScript<
  [window: string, pendingReminders: string],
  [size: number, ttlMs: number, fillMark: string, ...tsAndMembers: Array<string | number>],
  [mark: string, ...takenReminders: string[]]
>('chat', 'add-to-window', 2);

/** How often the replica re-reads the generation it compares adds with. */
const GENERATION_REFRESH_MS = 1000;

/**
 * The newest messages of each room in Redis, so history pages and
 * `history:sync` are answered without the database (MongoDB pages them through
 * an index; a MongoDB-wire store without one, like FerretDB on SQLite, scans
 * every message for each page).
 *
 * One sorted set per room: score = ts, member = id + JSON, so Redis orders
 * members exactly like the database's (ts, id) sort (ids are 24 lowercase hex
 * characters). Every stored message is added after its insert and before its
 * broadcast; the newest `size` are kept.
 *
 * A window is only trusted when it holds every message newer than its oldest
 * one. It is "filled" from the database with a suffix of the room's history (a
 * union with what was added meanwhile, so a message stored during the read is
 * not lost), and the FILLED member records under which generation. Adds that
 * could not reach Redis leave a gap nobody else can see, so each replica bumps
 * the shared generation every time it (re)connects to Redis, before it trusts
 * any window again: every window filled earlier is then refilled on its next
 * read. Reads compare the FILLED score with the generation in the same round
 * trip; anything untrusted is answered by the database instead. Adds compare
 * the window's mark with the generation this replica last read (re-read every
 * second in the background): that comparison only notices untrusted windows
 * early, so a send's add needs no read of its own.
 *
 * A room's first message can be added with a complete mark (`opensRoom`): the
 * room had no message before it (RoomRegistry), so the window holds its whole
 * history from then on and is never filled from the database.
 *
 * Keys: <p>{room:<room>}:recent (sorted set, expires ttlMs after its last
 * write) and <p>rooms:recent-generation (counter).
 */
export class RecentWindow {
  /** False from a Redis outage until this replica has bumped the generation. */
  private trusted = false;
  /** The generation as last read or set by this replica (undefined: not known yet). */
  private generationSeen?: number;
  private readonly addAndTrim: RunnerOf<typeof ADD_TO_WINDOW>;
  private readonly refreshTimer: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly log: Logger,
    /** Messages kept per room (0 turns the window off). */
    readonly size: number,
    private readonly ttlMs: number,
    /** Told when a message was added to a window that is not trusted: the caller refills it in the background. */
    private readonly onUntrusted: (room: string) => void = () => undefined,
  ) {
    this.addAndTrim = ADD_TO_WINDOW.on(redis.command);
    redis.on('down', () => (this.trusted = false));
    redis.on('up', () => void this.invalidateAll());
    if (redis.isUp()) void this.invalidateAll();
    this.refreshTimer = setInterval(() => void this.refreshGeneration(), GENERATION_REFRESH_MS);
    this.refreshTimer.unref();
  }

  stop(): void {
    clearInterval(this.refreshTimer);
  }

  /**
   * The generation a fill mark made now would carry, as this replica knows it
   * (undefined while it does not). It may lag a bump by a second: a mark made
   * with it is then merely distrusted, and refilled.
   */
  get knownGeneration(): number | undefined {
    return this.trusted ? this.generationSeen : undefined;
  }

  private async refreshGeneration(): Promise<void> {
    if (!this.enabled || !this.redis.isUp()) return;
    const generation = await this.redis.orLocal(
      'history.generation',
      async () => Number((await this.redis.background.get(this.generationKey())) ?? 0),
      () => undefined,
    );
    // As read, even lower than what this replica had: a Redis that lost its data restarts the count.
    if (generation !== undefined) this.generationSeen = generation;
  }

  get enabled(): boolean {
    return this.size > 0;
  }

  /** Every window filled before now is refilled on its next read. Runs on each (re)connect. */
  async invalidateAll(): Promise<void> {
    if (!this.enabled) return;
    await this.redis.orLocal(
      'history.invalidate',
      async () => {
        this.generationSeen = await this.redis.command.incr(this.generationKey());
        this.trusted = this.redis.isUp();
      },
      (err) => this.log.warn({ err: err.message }, 'could not invalidate the history windows; history is read from MongoDB until redis is back'),
    );
  }

  /**
   * Adds stored messages (idempotent). A failed add drops that room's window
   * rather than leave a gap in it. An add to a window that is not trusted
   * (after a generation bump, or never filled) reports the room, so busy rooms
   * are refilled before their clients ask.
   */
  async add(messages: WindowMessage[]): Promise<void> {
    if (!this.enabled || messages.length === 0) return;
    const byRoom = new Map<string, WindowMessage[]>();
    for (const m of messages) {
      const list = byRoom.get(m.room);
      if (list) list.push(m);
      else byRoom.set(m.room, [m]);
    }
    await Promise.all([...byRoom].map(([room, list]) => this.addToRoom(room, list, {})));
  }

  /**
   * A send's one round trip: adds its message and takes the sender's pending
   * reminders in the room (`pendingKey`, under the room's hash tag), returning
   * their job ids. `opensRoom`: the generation known before the room's
   * registration, when this message opened the room (its window then holds the
   * whole history). With the window off, only the reminders are taken.
   */
  async addSent(message: WindowMessage, pendingKey: string, opensRoom?: number): Promise<string[]> {
    if (!this.enabled) {
      return this.redis.orLocal(
        'history.add',
        async () => {
          const [[err, taken]] = throwOnMultiError(await this.redis.command.multi().smembers(pendingKey).del(pendingKey).exec());
          if (err) throw err;
          return taken as string[];
        },
        () => [],
      );
    }
    const mark = opensRoom === undefined ? '' : String(opensRoom * 2 + 1);
    return this.addToRoom(message.room, [message], { pendingKey, mark });
  }

  private async addToRoom(room: string, messages: WindowMessage[], opts: { pendingKey?: string; mark?: string }): Promise<string[]> {
    return this.redis.orLocal(
      'history.add',
      async () => {
        const [filled, ...taken] = await this.addToWindow(room, messages, opts.mark ?? '', opts.pendingKey);
        const known = this.knownGeneration;
        if (known !== undefined && !isTrusted(filled || null, known)) this.onUntrusted(room);
        return taken;
      },
      // DEL is allowed even when Redis is out of memory; if Redis is gone
      // altogether, the generation bump on reconnect covers this window.
      async () => {
        await this.redis.orLocal('history.drop', () => this.redis.command.del(this.key(room)), () => 0);
        return [];
      },
    );
  }

  /** The current generation, or undefined when Redis does not answer. */
  async generation(): Promise<number | undefined> {
    return this.redis.orLocal('history.generation', async () => Number((await this.redis.command.get(this.generationKey())) ?? 0), () => undefined);
  }

  /**
   * Writes what the database returned for a room under `generation` (read
   * before the database was): a suffix of its history in (ts, id) order, the
   * whole of it when `complete`. Merged with what was added meanwhile.
   */
  async fill(room: string, messages: WindowMessage[], generation: number, complete: boolean): Promise<void> {
    if (!this.enabled) return;
    // Redis away: the window stays untrusted, and its readers read MongoDB.
    await this.redis.orLocal('history.fill', () => this.addToWindow(room, messages, String(generation * 2 + (complete ? 1 : 0))), () => null);
  }

  private addToWindow(room: string, messages: WindowMessage[], mark: string, pendingKey?: string): Promise<[string, ...string[]]> {
    const args = messages.flatMap((m) => [m.ts, encode(m)]);
    const key = this.key(room);
    return this.addAndTrim([key, pendingKey ?? key], [this.size, this.ttlMs, mark, ...args]);
  }

  /**
   * The room's window oldest first, or undefined when it is not trusted (never
   * filled, filled under an older generation, Redis away). `complete` is true
   * when the window holds the room's whole history.
   */
  async read(room: string): Promise<{ messages: WindowMessage[]; complete: boolean } | undefined> {
    if (!this.enabled || !this.trusted || !this.redis.isUp()) return undefined;
    const key = this.key(room);
    // Sent together: one round trip. A bump landing between the two is seen
    // at the next read; the window it distrusts was already missing only
    // what it missed before the bump.
    const read = await this.redis.orLocal(
      'history.read',
      () => Promise.all([this.redis.command.get(this.generationKey()), this.redis.command.pipeline().zscore(key, FILLED).zrange(key, 0, -1).exec()]),
      () => undefined,
    );
    if (!read) return undefined;
    const [generation, res] = read;
    const [[scoreErr, filled], [rangeErr, members]] = (res ?? []) as Array<[Error | null, unknown]>;
    if (scoreErr || rangeErr || !isTrusted(filled as string | null, Number(generation ?? 0))) return undefined;
    const messages = (members as string[]).filter((m) => m !== FILLED).map(decode);
    return { messages, complete: Number(filled) % 2 === 1 };
  }

  private key(room: string): string {
    return this.keys.tagged('room', room, 'recent');
  }

  private generationKey(): string {
    return this.keys.plain('rooms', 'recent-generation');
  }
}

function isTrusted(filled: string | null, generation: number): boolean {
  return filled !== null && Math.floor(Number(filled) / 2) === generation;
}

/** The id first: members with the same score (ts) then sort by id, as in the database. */
function encode(m: WindowMessage): string {
  return m.id + JSON.stringify([m.ts, m.userId, m.text, m.clientMsgId, m.instance, m.room]);
}

function decode(member: string): WindowMessage {
  const [ts, userId, text, clientMsgId, instance, room] = JSON.parse(member.slice(24)) as [number, string, string, string, string, string];
  return { id: member.slice(0, 24), room, userId, text, ts, clientMsgId, instance };
}
