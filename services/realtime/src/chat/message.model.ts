import { Schema, type Connection, type Model, Types } from 'mongoose';

export interface MessageDoc {
  _id: Types.ObjectId;
  room: string;
  userId: string;
  text: string;
  clientMsgId: string;
  ts: number;
  instance: string;
}

const messageSchema = new Schema<MessageDoc>(
  {
    room: { type: String, required: true },
    userId: { type: String, required: true },
    text: { type: String, required: true },
    clientMsgId: { type: String, required: true },
    ts: { type: Number, required: true },
    instance: { type: String, required: true },
  },
  { versionKey: false, collection: 'messages' },
);

// A retried send with the same clientMsgId hits this index and returns the first message.
messageSchema.index({ userId: 1, clientMsgId: 1 }, { unique: true });
// History pages and sync walk a room by (ts, _id).
messageSchema.index({ room: 1, ts: -1, _id: -1 });

export function messageModel(connection: Connection): Model<MessageDoc> {
  return connection.models.Message ?? connection.model<MessageDoc>('Message', messageSchema);
}
