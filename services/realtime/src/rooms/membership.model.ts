import { Schema, type Connection, type Model } from 'mongoose';

/**
 * Who may see a room: `public` (anyone may join, members read), `private`
 * (only its members) or `dm` (a direct conversation of two users). Inserted
 * once, never changed: a room's kind is cached for good once read.
 */
export type RoomKind = 'public' | 'private' | 'dm';

export interface RoomSettingsDoc {
  _id: string; // the room name
  kind: RoomKind;
  /** A direct conversation's two users, sorted. */
  users?: string[];
  createdBy: string;
  createdAt: number;
}

/**
 * A user's durable membership of a room, and their read position in it.
 * `_id` is `<userId>|<room>`: the one lookup every MongoDB-wire store does
 * without a scan (user ids and room names hold no `|`).
 */
export interface MembershipDoc {
  _id: string;
  userId: string;
  room: string;
  kind: RoomKind;
  /** A direct conversation's other user. */
  with?: string;
  /**
   * The other side of a direct conversation someone opened with this user:
   * listed only once it has a message.
   */
  quiet?: boolean;
  joinedAt: number;
  /** The read position: the message id read up to (inclusive) and its ts; '' and 0 before the first message:read. */
  readId: string;
  readTs: number;
}

const settingsSchema = new Schema<RoomSettingsDoc>(
  {
    _id: { type: String, required: true },
    kind: { type: String, required: true, enum: ['public', 'private', 'dm'] },
    users: { type: [String], default: undefined },
    createdBy: { type: String, required: true },
    createdAt: { type: Number, required: true },
  },
  { versionKey: false, collection: 'room_settings' },
);

const membershipSchema = new Schema<MembershipDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    room: { type: String, required: true },
    kind: { type: String, required: true, enum: ['public', 'private', 'dm'] },
    with: { type: String },
    quiet: { type: Boolean },
    joinedAt: { type: Number, required: true },
    readId: { type: String, default: '' },
    readTs: { type: Number, default: 0 },
  },
  { versionKey: false, collection: 'memberships' },
);
// A user's conversations (a cache rebuild) and a room's members; MongoDB uses these, FerretDB scans.
membershipSchema.index({ userId: 1 });
membershipSchema.index({ room: 1 });

export const membershipId = (userId: string, room: string) => `${userId}|${room}`;

export function roomSettingsModel(connection: Connection): Model<RoomSettingsDoc> {
  return (connection.models.RoomSettings as Model<RoomSettingsDoc>) ?? connection.model<RoomSettingsDoc>('RoomSettings', settingsSchema);
}

export function membershipModel(connection: Connection): Model<MembershipDoc> {
  return (connection.models.Membership as Model<MembershipDoc>) ?? connection.model<MembershipDoc>('Membership', membershipSchema);
}
