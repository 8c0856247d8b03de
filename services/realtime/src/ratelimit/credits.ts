import { randomBytes } from 'node:crypto';
import type { Limit } from './limit';
import { luaScript, type RunnerOf } from '../infra/lua-scripts';
import type { RedisClient } from '../infra/redis-topology';
import { isRedisUnavailable } from '../infra/redis-fallback';

const CREDITS = luaScript<
  [hits: string],
  [windowMs: number, limit: number, want: number, spares: number, holdMs: number, prefix: string, used: number, ...members: string[]],
  [admitted: number, retryAfterMs: number, ...spares: string[]]
>('ratelimit', 'credits', 1);

/** Spares a replica holds per subject: one, so a subject that acts now and then is admitted without a round trip. */
const SPARES = 1;
/** How often used spares are recorded and expired ones given back, on the background connection. */
export const CREDITS_FLUSH_MS = 1000;

/** The same shape as the limiter's Decision. */
export interface CreditDecision {
  allowed: boolean;
  retryAfterMs: number;
  /** 'memory' when Redis was unavailable and the replica's own count decided. */
  backend: 'redis' | 'memory';
}

const ADMITTED: CreditDecision = { allowed: true, retryAfterMs: 0, backend: 'redis' };

interface Spare {
  member: string;
  /** Local time until which it may be used: the reservation counts in Redis until a window after that. */
  usableUntil: number;
}

interface SubjectCredits {
  key: string;
  spares: Spare[];
  /** Spares used since the last flush, with when. */
  used: Array<{ member: string; at: number }>;
  /** Spares whose time ran out unused, to remove from Redis. */
  expired: string[];
  waiting: Array<{ resolve(d: CreditDecision): void; reject(err: unknown): void }>;
  asking: boolean;
  /** Local time before which Redis said no hit can be admitted: refused here without asking. */
  refusedUntil: number;
}

/**
 * A sliding-window limit that stays exact across replicas, decided on the
 * replica when it can. Every admitted hit is a member of the subject's sorted
 * set in Redis, written before the hit is admitted (credits.lua):
 *
 * - A subject with no spare here asks Redis (one round trip before the
 *   action): the sends waiting in the same tick are admitted together, exactly
 *   like the sliding-window script; while the subject stays at or under half
 *   its limit the reply also reserves a spare for this replica.
 * - A subject holding a spare is admitted at once: the spare becomes the hit.
 *   It counted in Redis from its reservation, and keeps counting until a
 *   window after it could last be used, so no other replica can admit in its
 *   place; the flush (every second, off the hot path) records when it was
 *   used, which ends its count a window after its use, like any hit, and
 *   reserves the next spare.
 *
 * So replicas together never admit more than the limit in any window. The
 * price: a spare held here but not yet used counts for its subject everywhere,
 * and a used one stops counting up to a flush late. Spares are only granted
 * under half the limit, so only a subject sending through several replicas at
 * once, near its limit, can meet that: it may be refused up to one message
 * per replica early. Spares unused after `holdMs` (the limit's window) are
 * given back.
 *
 * A refusal is remembered until the `retryAfterMs` Redis gave with it: no hit
 * of that subject can be admitted before its oldest entry stops counting, so
 * a flood from a subject over its limit is refused here without a round trip
 * each. (A spare given back or spent early may free a place a little sooner:
 * the price is at most a refusal that an exact count would have admitted.)
 *
 * One instance per limit class: the message limit on every send, and the
 * other per-user classes of socket events (ratelimit/index.ts).
 */
export class Credits {
  private readonly subjects = new Map<string, SubjectCredits>();
  private readonly ask: RunnerOf<typeof CREDITS>;
  private readonly record: RunnerOf<typeof CREDITS>;
  private readonly prefix = randomBytes(6).toString('hex');
  private seq = 0;
  private readonly holdMs: number;

  constructor(
    command: RedisClient,
    background: RedisClient,
    private readonly limit: Limit,
    /** Where a subject's decision goes while Redis is unavailable. */
    private readonly whenUnavailable: (key: string) => CreditDecision,
  ) {
    this.ask = CREDITS.on(command);
    this.record = CREDITS.on(background);
    this.holdMs = limit.windowMs;
  }

  /** Admits one hit of `key` now from a spare, or after asking Redis. */
  take(key: string): CreditDecision | Promise<CreditDecision> {
    const s = this.subject(key);
    this.expireSpares(s);
    const now = Date.now();
    if (s.refusedUntil > now) return { allowed: false, retryAfterMs: s.refusedUntil - now, backend: 'redis' };
    if (s.waiting.length === 0) {
      const spare = s.spares.shift();
      if (spare) {
        s.used.push({ member: spare.member, at: Date.now() });
        return ADMITTED;
      }
    }
    return new Promise((resolve, reject) => {
      s.waiting.push({ resolve, reject });
      if (!s.asking) {
        s.asking = true;
        // The sends of one socket read arrive in one tick: one question for all of them.
        setImmediate(() => void this.askFor(s));
      }
    });
  }

  private async askFor(s: SubjectCredits): Promise<void> {
    const waiters = s.waiting.splice(0);
    const sentAt = Date.now();
    try {
      const [admitted, retryAfterMs, ...spares] = await this.ask([s.key], [this.limit.windowMs, this.limit.limit, waiters.length, SPARES, this.holdMs, this.nextPrefix(), 0]);
      if (admitted < waiters.length) s.refusedUntil = Date.now() + retryAfterMs;
      waiters.forEach((w, i) => w.resolve(i < admitted ? ADMITTED : { allowed: false, retryAfterMs, backend: 'redis' }));
      for (const member of spares) s.spares.push({ member, usableUntil: sentAt + this.holdMs });
    } catch (err) {
      if (isRedisUnavailable(err)) for (const w of waiters) w.resolve(this.whenUnavailable(s.key));
      else for (const w of waiters) w.reject(err);
    } finally {
      s.asking = false;
      // Sends that arrived meanwhile: a spare each, then one more question for the rest.
      while (s.waiting.length > 0 && s.spares.length > 0) {
        s.used.push({ member: s.spares.shift()!.member, at: Date.now() });
        s.waiting.shift()!.resolve(ADMITTED);
      }
      const refusedFor = s.refusedUntil - Date.now();
      if (refusedFor > 0) for (const w of s.waiting.splice(0)) w.resolve({ allowed: false, retryAfterMs: refusedFor, backend: 'redis' });
      if (s.waiting.length > 0) {
        s.asking = true;
        setImmediate(() => void this.askFor(s));
      }
    }
  }

  /**
   * Records the spares used since the last flush, gives back those that
   * expired, and reserves the next spare of each subject that used its own:
   * one script call per subject that did anything, none for the others.
   */
  async flush(): Promise<void> {
    const calls: Array<Promise<void>> = [];
    for (const s of this.subjects.values()) {
      this.expireSpares(s);
      if (s.used.length === 0 && s.expired.length === 0) {
        if (s.spares.length === 0 && s.waiting.length === 0 && !s.asking && s.refusedUntil <= Date.now()) this.subjects.delete(s.key);
        continue;
      }
      const used = s.used.splice(0);
      const expired = s.expired.splice(0);
      const refill = used.length > 0 && s.spares.length === 0 ? SPARES : 0;
      const sentAt = Date.now();
      calls.push(
        this.record([s.key], [this.limit.windowMs, this.limit.limit, 0, refill, this.holdMs, this.nextPrefix(), used.length, ...used.map((u) => u.member), ...expired]).then(
          ([, , ...spares]) => {
            for (const member of spares) s.spares.push({ member, usableUntil: sentAt + this.holdMs });
          },
          (err: unknown) => {
            if (!isRedisUnavailable(err)) throw err;
            // Tried again at the next flush; a use older than a window no longer matters (its reservation counted it).
            s.used.unshift(...used.filter((u) => u.at > Date.now() - this.limit.windowMs));
            s.expired.unshift(...expired);
          },
        ),
      );
    }
    await Promise.all(calls);
  }

  private expireSpares(s: SubjectCredits): void {
    const now = Date.now();
    while (s.spares.length > 0 && s.spares[0].usableUntil <= now) s.expired.push(s.spares.shift()!.member);
  }

  private subject(key: string): SubjectCredits {
    let s = this.subjects.get(key);
    if (!s) {
      s = { key, spares: [], used: [], expired: [], waiting: [], asking: false, refusedUntil: 0 };
      this.subjects.set(key, s);
    }
    return s;
  }

  private nextPrefix(): string {
    return `${this.prefix}-${++this.seq}`;
  }
}
