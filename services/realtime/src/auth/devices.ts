import { AppError } from '../infra/errors';
import type { Logger } from '../infra/logger';
import { luaScript, type RunnerOf } from '../infra/lua-scripts';
import type { RedisConnections } from '../infra/redis';
import { isRedisUnavailable } from '../infra/redis-fallback';
import { SESSIONS_LIST_MAX, type DeviceSession, type DeviceSessionList, type SessionUser } from '@switchboard/protocol';
import { USER_AGENT_MAX, type AuthService } from './index';

const TOUCH_SESSION = luaScript<[session: string], [now: number, userAgent: string, nodeId: string, sockets: number], 0 | 1>('auth', 'touch-session', 1);

/** An HTTP call writes a session's lastActiveAt at most this often per replica. */
export const ACTIVITY_WRITE_MS = 60_000;
/** How often a replica writes what changed (socket counts, activity): changes in between are written together. */
export const FLUSH_MS = 1000;
/** Sessions written per round trip when many changed at once (a connect storm, Redis coming back). */
const FLUSH_CHUNK = 250;
/** Session ids GET /api/sessions reads at most: a user with more sees `more: true`. */
const LIST_READ_MAX = 1000;
/** Sessions DELETE /api/sessions ends at once. */
const END_CONCURRENCY = 20;
const SOCKETS_FIELD = 'sockets:';

export interface DevicesDeps {
  redis: RedisConnections;
  auth: AuthService;
  /** This replica's node id: its field in each session hash. */
  nodeId: string;
  /** Node ids whose presence heartbeat has not expired: a dead replica's counts stop counting. */
  liveNodeIds: () => Promise<Set<string>>;
  log: Logger;
}

/** What changed about a session since the last flush. */
interface Change {
  /** When it happened (the session's lastActiveAt). */
  at: number;
  /** This replica's socket count of it changed. */
  sockets: boolean;
  userAgent?: string;
}

/**
 * A user's login sessions as devices: what each one is (user agent, opened,
 * last active) and how many sockets it holds now, read from the session's own
 * hash so a list costs one read per session.
 *
 * Nothing is written per event or per socket: each replica counts its sockets
 * per session in memory (every namespace) and, once per FLUSH_MS, writes the
 * count of each session whose count changed into its hash
 * (`sockets:<nodeId>`), on the background connection. A list sums the fields
 * of live replicas only, so a replica that dies stops counting with its
 * heartbeat. lastActiveAt moves with the login, a socket connecting or
 * disconnecting, and an HTTP call (noted at most once per ACTIVITY_WRITE_MS).
 */
export class Devices {
  /** This replica's sockets per session, every namespace. */
  private readonly localSockets = new Map<string, number>();
  /** Changes not written yet; kept (merged with newer ones) while Redis is away. */
  private readonly pending = new Map<string, Change>();
  private readonly lastNoted = new Map<string, number>();
  private lastPrunedAt = Date.now();
  private flushing = false;
  private flushTimer?: NodeJS.Timeout;
  private readonly touchSession: RunnerOf<typeof TOUCH_SESSION>;

  constructor(private readonly deps: DevicesDeps) {
    this.touchSession = TOUCH_SESSION.on(deps.redis.background);
  }

  /**
   * Starts the flushes. When Redis comes back every local count is written
   * again: the replica's heartbeat may have lapsed meanwhile, or Redis lost
   * the hashes' fields.
   */
  start(): void {
    this.flushTimer = setInterval(() => void this.flush(), FLUSH_MS);
    // Never the reason a replica stays up.
    this.flushTimer.unref();
    this.deps.redis.on('up', () => {
      const now = Date.now();
      for (const sessionId of this.localSockets.keys()) this.note(sessionId, { at: now, sockets: true });
      void this.flush();
    });
  }

  stop(): void {
    clearInterval(this.flushTimer);
  }

  socketOpened(sessionId: string, userAgent: string | undefined): void {
    this.localSockets.set(sessionId, (this.localSockets.get(sessionId) ?? 0) + 1);
    this.note(sessionId, { at: Date.now(), sockets: true, userAgent });
  }

  socketClosed(sessionId: string): void {
    const left = (this.localSockets.get(sessionId) ?? 1) - 1;
    if (left > 0) this.localSockets.set(sessionId, left);
    else this.localSockets.delete(sessionId);
    this.note(sessionId, { at: Date.now(), sockets: true });
  }

  /** An HTTP call of the session: noted at most once per ACTIVITY_WRITE_MS on this replica, and not while Redis is away. */
  active(sessionId: string, userAgent?: string): void {
    const now = Date.now();
    if (!this.deps.redis.isUp() || now - (this.lastNoted.get(sessionId) ?? 0) < ACTIVITY_WRITE_MS) return;
    this.lastNoted.set(sessionId, now);
    this.pruneNoted(now);
    this.note(sessionId, { at: now, sockets: false, userAgent });
  }

  /** Writes what changed since the last flush; what Redis could not take waits for the next one. */
  async flush(): Promise<void> {
    if (this.flushing || this.pending.size === 0) return;
    this.flushing = true;
    const { redis, auth, nodeId, log } = this.deps;
    try {
      const changes = [...this.pending];
      this.pending.clear();
      for (let i = 0; i < changes.length; i += FLUSH_CHUNK) {
        const chunk = changes.slice(i, i + FLUSH_CHUNK);
        // Sent in one tick: auto-pipelining makes one round trip of them (one per node on a cluster).
        const written = await Promise.allSettled(
          chunk.map(([sessionId, c]) =>
            redis.orLocal(
              'sessions.devices',
              () => this.touchSession([auth.sessionKey(sessionId)], [c.at, agent(c.userAgent), c.sockets ? nodeId : '', this.localSockets.get(sessionId) ?? 0]).then(() => true),
              () => false,
            ),
          ),
        );
        written.forEach((r, j) => {
          const [sessionId, c] = chunk[j];
          // Redis away: kept for a later flush, merged with what changes meanwhile.
          if (r.status === 'fulfilled' && !r.value) this.note(sessionId, c);
          else if (r.status === 'rejected') log.warn({ err: (r.reason as Error).message, sessionId }, 'session activity not written');
        });
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Merges a change into what waits for the next flush. */
  private note(sessionId: string, change: Change): void {
    const waiting = this.pending.get(sessionId);
    if (!waiting) {
      this.pending.set(sessionId, change);
      return;
    }
    waiting.at = Math.max(waiting.at, change.at);
    waiting.sockets ||= change.sockets;
    waiting.userAgent ??= change.userAgent;
  }

  /** The caller's sessions: their own first, then the others, most recently active first. */
  async list(user: SessionUser): Promise<DeviceSessionList> {
    const { redis, auth } = this.deps;
    return redis.orLocal(
      'sessions.list',
      async () => {
        const ids = new Set([user.sessionId]);
        let more = false;
        for await (const batch of auth.sessionIdsOf(user.userId)) {
          for (const id of batch) ids.add(id);
          if (ids.size >= LIST_READ_MAX) {
            more = true;
            break;
          }
        }
        const order = [...ids];
        const read = redis.batch();
        for (const id of order) read.hgetall(auth.sessionKey(id));
        const [hashes, live] = await Promise.all([read.exec(), this.deps.liveNodeIds()]);
        const now = Date.now();
        const sessions: DeviceSession[] = [];
        const gone: string[] = [];
        order.forEach((id, i) => {
          const [err, hash] = hashes?.[i] ?? [new Error('no reply'), null];
          if (err) throw err;
          const device = deviceOf(id, hash as Record<string, string>, user, live, now);
          if (device) sessions.push(device);
          else if (!(hash as Record<string, string>).userId) gone.push(id);
        });
        // Ids whose session expired: the cleanup job would drop them later.
        await auth.forget(user.userId, gone.filter((id) => id !== user.sessionId));
        sessions.sort((a, b) => Number(b.current) - Number(a.current) || b.lastActiveAt - a.lastActiveAt);
        return { sessions: sessions.slice(0, SESSIONS_LIST_MAX), more: more || sessions.length > SESSIONS_LIST_MAX };
      },
      () => {
        throw new AppError('UNAVAILABLE', 'sessions are unavailable right now, try again shortly');
      },
    );
  }

  /**
   * Ends every session of the user but the caller's. Returns the ids it ended
   * (their sockets are the caller's to disconnect) and, if Redis failed part
   * way, the error: the sessions ended before it stay ended.
   */
  async endOthers(user: SessionUser): Promise<{ ended: string[]; failure?: unknown }> {
    const ended: string[] = [];
    try {
      for await (const batch of this.deps.auth.sessionIdsOf(user.userId)) {
        const others = batch.filter((id) => id !== user.sessionId);
        for (let i = 0; i < others.length; i += END_CONCURRENCY) {
          const chunk = others.slice(i, i + END_CONCURRENCY);
          const results = await Promise.allSettled(chunk.map((id) => this.deps.auth.revoke(id, user)));
          let failure: unknown;
          results.forEach((r, j) => {
            if (r.status === 'fulfilled') ended.push(chunk[j]);
            // Expired meanwhile, or not the user's (never added by this service): nothing to end.
            else if (!(r.reason instanceof AppError && r.reason.code === 'NOT_FOUND')) failure ??= r.reason;
          });
          if (failure) return { ended, failure };
        }
      }
    } catch (err) {
      return { ended, failure: isRedisUnavailable(err) ? new AppError('UNAVAILABLE', 'sessions are unavailable right now, try again shortly') : err };
    }
    return { ended };
  }

  /** Forgets when sessions were last noted once that is too old to matter, at most once per interval. */
  private pruneNoted(now: number): void {
    if (now - this.lastPrunedAt < ACTIVITY_WRITE_MS) return;
    this.lastPrunedAt = now;
    for (const [sessionId, at] of this.lastNoted) if (now - at >= ACTIVITY_WRITE_MS) this.lastNoted.delete(sessionId);
  }
}

const agent = (userAgent: string | undefined): string => (userAgent ?? '').slice(0, USER_AGENT_MAX);

/** A session hash as the list shows it; null when it is not a live session of the user. */
function deviceOf(sessionId: string, h: Record<string, string>, user: SessionUser, live: Set<string>, now: number): DeviceSession | null {
  const expiresAt = Number(h.expiresAt);
  if (h.userId !== user.userId || h.revokedAt || !(expiresAt > now)) return null;
  let sockets = 0;
  for (const [field, value] of Object.entries(h)) {
    if (field.startsWith(SOCKETS_FIELD) && live.has(field.slice(SOCKETS_FIELD.length))) sockets += Number(value) || 0;
  }
  const createdAt = Number(h.createdAt) || 0;
  const device: DeviceSession = {
    sessionId,
    current: sessionId === user.sessionId,
    createdAt,
    lastActiveAt: Math.max(createdAt, Number(h.lastActiveAt) || 0),
    expiresAt,
    userAgent: h.userAgent || null,
    sockets,
  };
  if (h.source === 'demo' || h.source === 'idp') device.source = h.source;
  return device;
}
