// Cross-replica probe for the chaos scenario: one socket on replica A sends a
// timestamped message every `everyMs` to a room; one socket on replica B
// records when each arrives that another replica accepted. "Time to recover"
// is the first such arrival after a restore; the largest gap between arrivals
// shows an outage as a client saw it.
import type { Socket } from 'socket.io-client';
import crypto from 'node:crypto';
import { nowMs } from '../lib/clock';
import { withDeadline } from '../lib/deadline';
import { login } from '@switchboard/test-kit';
import { ack, ackOk, openSocket } from './client';

export class CrossReplicaProbe {
  readonly arrivals: number[] = [];
  /** times a probe socket was lost and opened again */
  reopened = 0;
  /** the replica the receiving socket is on (from a message of its own) */
  receiverReplica?: string;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private sender?: Socket;
  private receiver?: Socket;
  private constructor(
    readonly from: string,
    readonly to: string,
  ) {}

  /**
   * `cids`: replica -> a cid that lands on it (at least two replicas). Both
   * probe sockets must be up within `deadlineMs` (each attempt is bounded by
   * 5 s timeouts and retried): otherwise it throws, it does not retry for good.
   */
  static async start(url: string, cids: [string, string][], everyMs = 100, deadlineMs = 60_000): Promise<CrossReplicaProbe> {
    if (cids.length < 2) throw new Error('the probe needs two replicas');
    const run = crypto.randomBytes(4).toString('hex');
    const room = `probe-${run}`;
    const p = new CrossReplicaProbe(cids[0][0], cids[1][0]);
    // A probe socket that is lost (its replica died) is opened again, like a client would.
    let lastError = '';
    const open = async (cid: string, i: number, set: (s: Socket) => void, listen?: (s: Socket) => void): Promise<void> => {
      const userId = `probe-${run}-${i}`;
      for (;;) {
        if (p.stopped) return;
        let s: Socket | undefined;
        let stage = 'login';
        try {
          const token = (await login(url, userId, { cid, timeoutMs: 5000 })).token;
          stage = 'connect';
          s = await openSocket(url, { token, userId, cid, transports: ['websocket'], timeoutMs: 5000 }, listen);
          stage = 'join';
          await ackOk(s, 5000, 'room:join', { room });
          stage = 'send';
          // Which replica this socket is on now (nginx re-hashes a lost one): a
          // message of its own names it (`instance`), so only deliveries from
          // another replica count as cross-replica.
          const own = await ackOk(s, 5000, 'message:send', { room, text: 'pr-self', clientMsgId: `probe-${run}-self-${i}-${p.reopened}` });
          if (i === 1) p.receiverReplica = own.message?.instance;
          if (p.stopped) {
            s.disconnect();
            return;
          }
          set(s);
          s.once('disconnect', () => {
            if (p.stopped) return;
            p.reopened++;
            void open(cid, i, set, listen);
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
      Promise.all([
        open(cids[0][1], 0, (s) => (p.sender = s)),
        open(cids[1][1], 1, (s) => (p.receiver = s), (s) =>
          s.on('message:new', (m: { text?: string; instance?: string }) => {
            if (m?.text?.startsWith('pr|') && m.instance !== p.receiverReplica) p.arrivals.push(nowMs());
          }),
        ),
      ]).then(() => true),
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
      if (p.sender?.connected) void ack(p.sender, 2000, 'message:send', { room, text: `pr|${nowMs()}`, clientMsgId: `probe-${run}-${n++}` }).catch(() => undefined);
    }, everyMs);
    return p;
  }

  /** ms from `t` to the first arrival after it (undefined: none yet). */
  firstAfter(t: number): number | undefined {
    const a = this.arrivals.find((x) => x > t);
    return a === undefined ? undefined : Math.round(a - t);
  }

  /** The longest time without an arrival between `from` and `to`. */
  maxGap(from: number, to: number): number {
    let last = from;
    let gap = 0;
    for (const a of this.arrivals) {
      if (a < from) continue;
      if (a > to) break;
      gap = Math.max(gap, a - last);
      last = a;
    }
    return Math.round(Math.max(gap, to - last));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.sender?.disconnect();
    this.receiver?.disconnect();
  }
}
