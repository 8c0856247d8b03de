import type { ChainableCommander } from 'ioredis';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import type { RedisConnections } from '../infra/redis';
import type { ChatMessage as WindowMessage } from '.';

/** Marks a window filled from the database; its score is the generation it was filled under. */
const FILLED = '!filled';

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
 * one. It is "filled" from the database with the room's newest messages (a
 * union with what was added meanwhile, so a message stored during the read is
 * not lost), and the FILLED member records under which generation. Adds that
 * could not reach Redis leave a gap nobody else can see, so each replica bumps
 * the shared generation every time it (re)connects to Redis, before it trusts
 * any window again: every window filled earlier is then refilled on its next
 * read. Reads compare the FILLED score with the generation in the same round
 * trip; anything untrusted is answered by the database instead.
 *
 * Keys: <p>{room:<room>}:recent (sorted set, expires ttlMs after its last
 * write) and <p>rooms:recent-generation (counter).
 */
export class RecentWindow {
  /** False from a Redis outage until this replica has bumped the generation. */
  private trusted = false;

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
    redis.on('down', () => (this.trusted = false));
    redis.on('up', () => void this.invalidateAll());
    if (redis.isUp()) void this.invalidateAll();
  }

  get enabled(): boolean {
    return this.size > 0;
  }

  /** Every window filled before now is refilled on its next read. Runs on each (re)connect. */
  async invalidateAll(): Promise<void> {
    if (!this.enabled) return;
    try {
      await this.redis.command.incr(this.generationKey());
      this.trusted = this.redis.isUp();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not invalidate the history windows; history is read from MongoDB until redis is back');
    }
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
    // Read alongside the adds (same round trip) to tell whether each window is trusted.
    const generation = this.redis.command.get(this.generationKey()).catch(() => null);
    await Promise.all(
      [...byRoom].map(async ([room, list]) => {
        const key = this.key(room);
        try {
          const p = this.redis.command.pipeline();
          p.zadd(key, ...list.flatMap((m) => [m.ts, encode(m)]));
          p.zscore(key, FILLED);
          this.trimAndExpire(p, key);
          const res = (await p.exec()) ?? [];
          const failed = res.find(([err]) => err);
          if (failed) throw failed[0];
          const filledUnder = res[1]?.[1] as string | null;
          const current = await generation;
          if (this.trusted && current !== null && (filledUnder === null || Number(filledUnder) !== Number(current))) this.onUntrusted(room);
        } catch {
          // DEL is allowed even when Redis is out of memory; if Redis is gone
          // altogether, the generation bump on reconnect covers this window.
          await this.redis.command.del(key).catch(() => undefined);
        }
      }),
    );
  }

  /**
   * The room's window oldest first, or undefined when it is not trusted (never
   * filled, filled under an older generation, Redis away). `complete` is true
   * when the window holds the room's whole history (fewer than `size` messages).
   */
  async read(room: string): Promise<{ messages: WindowMessage[]; complete: boolean } | undefined> {
    if (!this.enabled || !this.trusted || !this.redis.isUp()) return undefined;
    try {
      const key = this.key(room);
      // Sent together: one round trip. The generation is read first, so a bump
      // that lands between the two makes this read untrusted, never the reverse.
      const [generation, res] = await Promise.all([
        this.redis.command.get(this.generationKey()),
        this.redis.command.pipeline().zscore(key, FILLED).zrange(key, 0, -1).exec(),
      ]);
      const [[scoreErr, filledUnder], [rangeErr, members]] = (res ?? []) as Array<[Error | null, unknown]>;
      if (scoreErr || rangeErr || filledUnder === null || Number(filledUnder) !== Number(generation ?? 0)) return undefined;
      const messages = (members as string[]).filter((m) => m !== FILLED).map(decode);
      return { messages, complete: messages.length < this.size };
    } catch {
      return undefined;
    }
  }

  /**
   * Fills the room's window from the database: `load(n)` returns the room's n
   * newest messages (any order). The generation is read before the load, so a
   * bump during the load leaves the window untrusted.
   */
  async fill(room: string, load: (n: number) => Promise<WindowMessage[]>): Promise<WindowMessage[]> {
    if (!this.enabled || !this.redis.isUp()) return load(this.size);
    let generation: string | null;
    try {
      generation = await this.redis.command.get(this.generationKey());
    } catch {
      return load(this.size);
    }
    const messages = await load(this.size);
    try {
      const key = this.key(room);
      const p = this.redis.command.pipeline();
      p.zadd(key, ...messages.flatMap((m) => [m.ts, encode(m)]), Number(generation ?? 0), FILLED);
      this.trimAndExpire(p, key);
      await p.exec();
    } catch {
      // Not filled: the next read tries again.
    }
    return messages;
  }

  /** Keeps FILLED (lowest score, rank 0) and the newest `size` messages. */
  private trimAndExpire(p: ChainableCommander, key: string): void {
    p.zremrangebyrank(key, 1, -(this.size + 1));
    p.pexpire(key, this.ttlMs);
  }

  private key(room: string): string {
    return this.keys.tagged('room', room, 'recent');
  }

  private generationKey(): string {
    return this.keys.plain('rooms', 'recent-generation');
  }
}

/** The id first: members with the same score (ts) then sort by id, as in the database. */
function encode(m: WindowMessage): string {
  return m.id + JSON.stringify([m.ts, m.userId, m.text, m.clientMsgId, m.instance, m.room]);
}

function decode(member: string): WindowMessage {
  const [ts, userId, text, clientMsgId, instance, room] = JSON.parse(member.slice(24)) as [number, string, string, string, string, string];
  return { id: member.slice(0, 24), room, userId, text, ts, clientMsgId, instance };
}
