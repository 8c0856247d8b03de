import { z } from 'zod';
import { DEFAULT_CAPS, mentionsIn } from './limits';
import { STATUSES, type PresenceSubscription } from './shapes';

/** Payload schemas of the main namespace and the HTTP routes (docs/protocol.md). Strict: unknown fields are refused. */
export const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
export const USER_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const MESSAGE_ID_RE = /^[0-9a-f]{24}$/i;

export const room = z.string().regex(ROOM_RE, 'room must be 1 to 64 characters of A-Z a-z 0-9 _ . : -');
export const userId = z.string().regex(USER_ID_RE, 'userId must be 1 to 64 characters of A-Z a-z 0-9 _ . -');
export const geohash = z.string().regex(/^[0123456789bcdefghjkmnpqrstuvwxyz]{1,12}$/, 'region must be a geohash (1 to 12 base-32 characters)');
export const messageId = z.string().regex(MESSAGE_ID_RE, 'message id must be 24 hex characters');
/**
 * The ids of the jobs the service makes and shows: `reminder-<message id>-<mentioned user>` and
 * `dispatch-offer-<order id>-<attempt>`. Nothing else (no `:`), so BullMQ's own keys
 * (`meta`, `events`, `repeat:...`) are never read through GET /api/jobs/:id.
 */
export const REMINDER_JOB_RE = /^reminder-([0-9a-f]{24})-([A-Za-z0-9_.-]{1,64})$/;
export const DISPATCH_OFFER_JOB_RE = /^dispatch-offer-([A-Za-z0-9_-]{1,64})-([0-9]{1,9})$/;
export const jobId = z
  .string()
  .max(200, 'job id is too long')
  .refine((id) => REMINDER_JOB_RE.test(id) || DISPATCH_OFFER_JOB_RE.test(id), 'job id must be reminder-<message id>-<user id> or dispatch-offer-<order id>-<attempt>');
/** A session id: a login's UUID, or an identity provider's `sid`/`jti` (docs/protocol.md, "Authentication"). */
export const SESSION_ID_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;
export const sessionId = z.string().regex(SESSION_ID_RE, 'session id must be 1 to 128 characters of A-Z a-z 0-9 _ . : @ -');
/** Most users one presence:subscribe names: bounds the snapshot it reads (one Redis read per user). */
export const PRESENCE_SUBSCRIBE_MAX_IDS = 500;

/** presence:subscribe and presence:unsubscribe: a list of users or everyone, exactly one of the two. */
const presenceSubscription = z
  .strictObject({
    userIds: z
      .array(userId)
      .min(1, 'userIds must name at least one user')
      .max(PRESENCE_SUBSCRIBE_MAX_IDS, `userIds must name at most ${PRESENCE_SUBSCRIBE_MAX_IDS} users`)
      .optional(),
    all: z.literal(true, 'all must be true').optional(),
  })
  .refine((s) => (s.userIds === undefined) !== (s.all === undefined), 'give either userIds or all: true (not both)')
  .transform((s): PresenceSubscription => (s.all ? { all: true } : { userIds: [...new Set(s.userIds)] }));

export const schemas = {
  roomJoin: z.strictObject({ room }),
  roomLeave: z.strictObject({ room }),
  messageSend: (maxChars: number, maxMentions: number = DEFAULT_CAPS.mentionsPerMessage) =>
    z.strictObject({
      room,
      text: z
        .string()
        .max(maxChars, `text must be at most ${maxChars} characters`)
        .refine((t) => t.trim().length > 0, 'text must not be empty')
        // Each mention may schedule a reminder: a message cannot fan out to any number of them.
        .refine((t) => mentionsIn(t).length <= maxMentions, `text must mention at most ${maxMentions} users`),
      clientMsgId: z.string().min(1).max(64),
    }),
  historySync: z.strictObject({ room, after: messageId.optional() }),
  presenceSet: z.strictObject({ status: z.enum(STATUSES) }),
  presenceSubscription,
  typing: z.strictObject({ room, typing: z.boolean() }),
  regionUpdate: z.strictObject({
    lat: z.number().finite().min(-90).max(90),
    lng: z.number().finite().min(-180).max(180),
  }),
  login: z.strictObject({ userId, name: z.string().trim().min(1).max(64).optional() }),
  historyQuery: z.object({
    limit: z.coerce.number().int().min(1).max(100).default(50),
    before: messageId.optional(),
  }),
};

/** "room: room must be ..." from the first issue, for the ack's message. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const path = issue.path.join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}
