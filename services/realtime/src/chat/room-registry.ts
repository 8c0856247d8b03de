import { Schema, type Connection, type Model } from 'mongoose';
import type { Logger } from '../infra/logger';
import type { MessageDoc } from './message.model';

interface RoomDoc {
  /** The room name, or REGISTRY_ID for the registry's own record. */
  _id: string;
  createdAt: number;
  /** Registry record only: the messages collection was empty when the registry began. */
  trusted?: boolean;
}

const roomSchema = new Schema<RoomDoc>(
  {
    _id: { type: String, required: true },
    createdAt: { type: Number, required: true },
    trusted: { type: Boolean },
  },
  { versionKey: false, collection: 'rooms' },
);

/** The registry's model on a connection. */
function roomModel(connection: Connection): Model<RoomDoc> {
  return (connection.models.Room as Model<RoomDoc>) ?? connection.model<RoomDoc>('Room', roomSchema);
}

/** Whether a message of the room was ever stored since the registry began (by `_id`, no scan). */
export async function roomHasMessages(connection: Connection, room: string): Promise<boolean> {
  return (await roomModel(connection).exists({ _id: room })) !== null;
}

/** Room names never contain '#' (packages/protocol), so this id is no room's. */
const REGISTRY_ID = '#registry';
/** Rooms remembered as registered; beyond this the memory starts over (a forgotten room costs one duplicate insert). */
const MAX_KNOWN = 100_000;

/**
 * Which rooms have had a message, so that a room's first message can tell:
 * the room's history window then holds its whole history from that message on
 * and is never filled from the database (a fill is a query that FerretDB v1
 * answers by reading every message of the room, with no index).
 *
 * One document per room in `rooms`, `_id` the room name: inserted, never
 * updated, and looked up by `_id` only, the one lookup such a store does
 * without a scan. Every replica registers a batch's rooms before it inserts
 * the batch's messages (MessageWriter.beforeInsert), so the replica whose
 * insert creates a room's document knows that no message of that room was
 * stored before it.
 *
 * That holds only for messages stored since the registry began: the registry's
 * own record says whether the messages collection was empty then. On a
 * database that already held messages, rooms keep being registered but none
 * is reported new, and their windows are filled from the database as before.
 */
export class RoomRegistry {
  private readonly rooms: Model<RoomDoc>;
  private readonly known = new Set<string>();
  /** Undefined until the registry record was read (or made). */
  private trusted?: boolean;

  constructor(
    connection: Connection,
    private readonly messages: Model<MessageDoc>,
    private readonly log: Logger,
  ) {
    this.rooms = roomModel(connection);
  }

  /**
   * Registers the rooms this replica has not seen registered; resolves with
   * those that had no document before (and so no message), when the registry
   * is trusted. Rejects when the database did not answer: the messages of
   * those rooms must not be stored before their room is.
   */
  async register(rooms: Iterable<string>): Promise<Set<string>> {
    const unknown = [...new Set(rooms)].filter((r) => !this.known.has(r));
    if (unknown.length === 0) return new Set();
    const trusted = await this.isTrusted();
    const created = await this.insert(unknown);
    this.remember(unknown);
    return trusted ? created : new Set();
  }

  /** Rooms known to have their document: neither registered nor looked up again. */
  private remember(rooms: string[]): void {
    if (this.known.size + rooms.length > MAX_KNOWN) this.known.clear();
    for (const room of rooms) this.known.add(room);
  }

  /**
   * Those of `rooms` that never had a message stored, when the registry is
   * trusted (none otherwise): their history is empty and complete, with no
   * read of the messages. One lookup by `_id` per room this replica has not
   * seen registered (a room found registered is remembered, so a refill after
   * a generation bump does not look it up again). A registration racing with the lookup is harmless: its
   * message is added to the window after it is stored, so the window holds it.
   */
  async withoutMessages(rooms: readonly string[]): Promise<Set<string>> {
    const unknown = rooms.filter((r) => !this.known.has(r));
    if (unknown.length === 0 || !(await this.isTrusted())) return new Set();
    const found = await Promise.all(unknown.map(async (room) => ({ room, exists: (await this.rooms.exists({ _id: room })) !== null })));
    this.remember(found.filter((f) => f.exists).map((f) => f.room));
    return new Set(found.filter((f) => !f.exists).map((f) => f.room));
  }

  /** Inserts one document per room; resolves with the rooms whose insert created it. */
  private async insert(rooms: string[]): Promise<Set<string>> {
    const now = Date.now();
    try {
      await this.rooms.insertMany(
        rooms.map((_id) => ({ _id, createdAt: now })),
        { ordered: false, lean: true },
      );
      return new Set(rooms);
    } catch (err) {
      const listed = (err as { writeErrors?: Array<{ index: number; code?: number; err?: { index: number; code?: number } }> }).writeErrors ?? [];
      const failures = listed.map((e) => e.err ?? e);
      // Anything but duplicates (a lost connection lists none): not registered.
      if (failures.length === 0 || failures.some((e) => e.code !== 11000)) throw err;
      const existing = new Set(failures.map((e) => rooms[e.index]));
      return new Set(rooms.filter((r) => !existing.has(r)));
    }
  }

  /** Reads the registry record, making it on first use; false while the database does not answer. */
  private async isTrusted(): Promise<boolean> {
    if (this.trusted !== undefined) return this.trusted;
    try {
      let record = await this.rooms.findById(REGISTRY_ID).lean<RoomDoc>();
      if (!record) {
        const empty = (await this.messages.findOne({}, { _id: 1 }).lean()) === null;
        try {
          await this.rooms.create({ _id: REGISTRY_ID, createdAt: Date.now(), trusted: empty });
        } catch (err) {
          if ((err as { code?: number }).code !== 11000) throw err; // another replica made it first
        }
        record = await this.rooms.findById(REGISTRY_ID).lean<RoomDoc>();
      }
      this.trusted = record?.trusted === true;
      this.log.info({ trusted: this.trusted }, this.trusted ? 'room registry: new rooms need no history fill' : 'room registry began on a database with messages: history windows are filled from it');
      return this.trusted;
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'room registry record not read yet');
      return false;
    }
  }
}
