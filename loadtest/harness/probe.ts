// Cross-replica probe for the chaos scenario: one socket on replica A sends a
// timestamped message every `everyMs` to a room; one socket on each other
// replica records when each arrives that another replica accepted. "Time to
// recover" is the first such arrival after a repair, at the receiver on the
// replica the fault hit (or on the first other one for a fault of the whole
// cluster); the largest gap between arrivals shows an outage as a client saw it.
import type { Socket } from 'socket.io-client';
import crypto from 'node:crypto';
import { nowMs } from '../lib/clock';
import { withDeadline } from '../lib/deadline';
import { login } from '@switchboard/test-kit';
import { ack, ackOk, openSocket } from './client';

export interface ProbeReceiver {
  /** the replica its cid landed on when the probe started */
  replica: string;
  arrivals: number[];
  /** the replica the socket is on now (from a message of its own: nginx re-hashes a lost one) */
  on?: string;
}

export class CrossReplicaProbe {
  readonly receivers: ProbeReceiver[];
  /** times a probe socket was lost and opened again */
  reopened = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private sender?: Socket;
  private readonly sockets = new Set<Socket>();
  private constructor(
    readonly from: string,
    receivers: string[],
    /** the room the probe sends to (a Redis Cluster kill picks the shard of its channel) */
    readonly room: string,
  ) {
    this.receivers = receivers.map((replica) => ({ replica, arrivals: [] }));
  }

  /** The first receiver's replica: the reference for faults of the whole cluster. */
  get to(): string {
    return this.receivers[0].replica;
  }

  /**
   * `cids`: replica -> a cid that lands on it (at least two replicas); the
   * first sends, every other one receives. Every probe socket must be up
   * within `deadlineMs` (each attempt is bounded by 5 s timeouts and retried):
   * otherwise it throws, it does not retry for good.
   */
  static async start(url: string, cids: [string, string][], everyMs = 100, deadlineMs = 60_000): Promise<CrossReplicaProbe> {
    if (cids.length < 2) throw new Error('the probe needs two replicas');
    const run = crypto.randomBytes(4).toString('hex');
    const p = new CrossReplicaProbe(
      cids[0][0],
      cids.slice(1).map(([replica]) => replica),
      `probe-${run}`,
    );
    // A probe socket that is lost (its replica died) is opened again, like a client would.
    let lastError = '';
    const open = async (cid: string, i: number, set: (s: Socket) => void, receiver?: ProbeReceiver): Promise<void> => {
      const userId = `probe-${run}-${i}`;
      for (;;) {
        if (p.stopped) return;
        let s: Socket | undefined;
        let stage = 'login';
        try {
          const token = (await login(url, userId, { cid, timeoutMs: 5000 })).token;
          stage = 'connect';
          s = await openSocket(url, { token, userId, cid, transports: ['websocket'], timeoutMs: 5000 }, (sock) => {
            if (!receiver) return;
            sock.on('message:new', (m: { text?: string; instance?: string }) => {
              if (m?.text?.startsWith('pr|') && m.instance !== receiver.on) receiver.arrivals.push(nowMs());
            });
          });
          stage = 'join';
          await ackOk(s, 5000, 'room:join', { room: p.room });
          stage = 'send';
          // Which replica this socket is on now: a message of its own names it
          // (`instance`), so only deliveries from another replica count as cross-replica.
          const own = await ackOk(s, 5000, 'message:send', { room: p.room, text: 'pr-self', clientMsgId: `probe-${run}-self-${i}-${p.reopened}` });
          if (receiver) receiver.on = own.message?.instance;
          if (p.stopped) {
            s.disconnect();
            return;
          }
          set(s);
          p.sockets.add(s);
          const mine = s;
          s.once('disconnect', () => {
            p.sockets.delete(mine);
            if (p.stopped) return;
            p.reopened++;
            void open(cid, i, set, receiver);
          });
          return;
        } catch (e) {
          s?.disconnect();
          lastError = `${stage}: ${(e as Error).message}`;
          if (p.stopped) return;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    const up = await withDeadline(
      Promise.all([open(cids[0][1], 0, (s) => (p.sender = s)), ...p.receivers.map((r, k) => open(cids[k + 1][1], k + 1, () => undefined, r))]).then(() => true),
      deadlineMs,
      () => false,
    );
    if (!up) {
      p.stop();
      throw new Error(`the cross-replica probe could not log in, connect, join and send within ${Math.round(deadlineMs / 1000)} s (last error: ${lastError || 'none'}); the stack is not accepting connections`);
    }
    let n = 0;
    p.timer = setInterval(() => {
      // Sends fail while Redis or a replica is down; that is what the probe measures, as a gap in arrivals.
      if (p.sender?.connected) void ack(p.sender, 2000, 'message:send', { room: p.room, text: `pr|${nowMs()}`, clientMsgId: `probe-${run}-${n++}` }).catch(() => undefined);
    }, everyMs);
    return p;
  }

  /** The receiver that started on `replica` (the reference one when none did). */
  receiverOn(replica?: string): ProbeReceiver {
    return this.receivers.find((r) => r.replica === replica) ?? this.receivers[0];
  }

  /** ms from `t` to the first arrival after it at `receiver` (undefined: none yet). */
  firstAfter(t: number, receiver = this.receivers[0]): number | undefined {
    return firstAfter(receiver.arrivals, t);
  }

  /** See afterGap below. */
  afterGap(t: number, gapMs: number, until: number, receiver = this.receivers[0]): number | undefined {
    return afterGap(receiver.arrivals, t, gapMs, until);
  }

  /** The longest time without an arrival at `receiver` between `from` and `to`. */
  maxGap(from: number, to: number, receiver = this.receivers[0]): number {
    return maxGap(receiver.arrivals, from, to);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.sender?.disconnect();
    for (const s of this.sockets) s.disconnect();
  }
}

/** ms from `t` to the first arrival after it (undefined: none yet). */
export function firstAfter(arrivals: number[], t: number): number | undefined {
  const a = arrivals.find((x) => x > t);
  return a === undefined ? undefined : Math.round(a - t);
}

/**
 * ms from `t` to the end of the first silence of at least `gapMs` that began
 * after it (an outage the probe noticed, e.g. a failover); undefined while
 * such a silence lasts at `until`, and 0 when arrivals went on without one.
 */
export function afterGap(arrivals: number[], t: number, gapMs: number, until: number): number | undefined {
  let last = t;
  for (const a of arrivals) {
    if (a <= t) continue;
    if (a - last >= gapMs) return Math.round(a - t);
    last = a;
  }
  return until - last < gapMs ? 0 : undefined;
}

/** The longest time without an arrival between `from` and `to`. */
export function maxGap(arrivals: number[], from: number, to: number): number {
  let last = from;
  let gap = 0;
  for (const a of arrivals) {
    if (a < from) continue;
    if (a > to) break;
    gap = Math.max(gap, a - last);
    last = a;
  }
  return Math.round(Math.max(gap, to - last));
}
