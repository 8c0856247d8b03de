// Chat mix, the worker side: realistic users. Each one, at its scheduled
// arrival, logs in, connects, joins 1-3 rooms, reads each room's history
// (history:sync), then until its session ends: idles (exponential think
// time), types (`typing`, no ack), sends, and at the end leaves its rooms and
// disconnects. Every action is timed (HDR histogram per action) and its errors
// are counted by action. Open model: login, connect and joins are timed from
// the user's scheduled arrival, sends and their deliveries from the send's
// scheduled time, leaves from the session's scheduled end; history reads
// from their own start.
import type { Socket } from 'socket.io-client';
import { nowMs, sleep } from '../lib/clock';
import { withDeadline } from '../lib/deadline';
import { encode, newHist, recordMs, type Histogram } from '../lib/hist';
import { login } from '@switchboard/test-kit';
import { ackOk, openSocket } from './client';
import type { Counters } from './counters';

export interface ChatUser {
  key: string;
  userId: string;
  cid: string;
  /** arrival (epoch ms), fixed in advance: open model */
  at: number;
  rooms: string[];
  /** when the user leaves (epoch ms) */
  until: number;
}

export interface ChatCmd {
  type: 'chat';
  phase: string;
  url: string;
  users: ChatUser[];
  transports: ('websocket' | 'polling')[];
  timeoutMs: number;
  /** mean think time between two messages of one user (exponential) */
  thinkMs: number;
  /** how long a user "types" before sending */
  typingMs: number;
  /** what the target speaks beyond join/leave/send/typing: the stock server has no history */
  history: boolean;
  typing: boolean;
  /** epoch ms (lib/deadline.ts, chat-mix.ts): users still busy then are cut off and counted as errors */
  deadlineAt: number;
}

export interface ChatCollect {
  hist: Record<string, string>;
  errors: Record<string, number>;
  counts: Record<string, number>;
}

const PREFIX = 'cm|';

export async function runChat(cmd: ChatCmd, counters: Counters): Promise<ChatCollect> {
  const hists = new Map<string, Histogram>();
  const errors: Record<string, number> = {};
  const counts: Record<string, number> = { users: 0, connected: 0, completed: 0, sent: 0, delivered: 0, typingSent: 0, typingReceived: 0, historyMessages: 0 };
  /** past the deadline: every user still busy stops at its next step */
  let over = false;
  const open = new Set<Socket>();
  const time = (name: string, ms: number) => {
    let h = hists.get(name);
    if (!h) hists.set(name, (h = newHist()));
    recordMs(h, ms);
  };
  const fail = (action: string, e: unknown) => {
    counters.errors++;
    const what = `${action}: ${(e as Error).message ?? e}`.slice(0, 80);
    errors[what] = (errors[what] ?? 0) + 1;
  };
  /**
   * Runs one timed action; false when it failed. Timed from `scheduled` when
   * given (open model: a user held up by a slow earlier step shows it as
   * latency, not as a later start), else from its actual start.
   */
  const timed = async (action: string, fn: () => Promise<unknown>, scheduled?: number): Promise<boolean> => {
    const t0 = nowMs();
    try {
      await fn();
      time(action, nowMs() - (scheduled ?? t0));
      return true;
    } catch (e) {
      fail(action, e);
      return false;
    }
  };

  const oneUser = async (u: ChatUser) => {
    await sleep(u.at - nowMs());
    if (over) return; // counted by the deadline
    counts.users++;
    counters.connecting++;
    let socket: Socket | undefined;
    let token = '';
    let held = false;
    let connecting = true;
    const doneConnecting = () => {
      if (connecting) counters.connecting--;
      connecting = false;
    };
    try {
      // Login, connect and joins are timed from the user's scheduled arrival (each includes the steps before it).
      if (!(await timed('login', async () => (token = (await login(cmd.url, u.userId, { cid: u.cid, timeoutMs: cmd.timeoutMs })).token), u.at))) return;
      const opened = await timed(
        'connect',
        async () => {
        socket = await openSocket(cmd.url, { token, userId: u.userId, cid: u.cid, transports: cmd.transports, timeoutMs: cmd.timeoutMs }, (s) => {
          s.on('message:new', (m: { text?: string }) => {
            if (typeof m?.text !== 'string' || !m.text.startsWith(PREFIX)) return;
            counts.delivered++;
            counters.deliveries++;
            time('delivery', nowMs() - Number(m.text.split('|', 3)[1]));
          });
          s.on('typing', () => counts.typingReceived++);
        });
        },
        u.at,
      );
      doneConnecting();
      if (!opened || !socket) return;
      const s = socket;
      if (over) return;
      open.add(s);
      counts.connected++;
      counters.connected++;
      held = true;
      for (const room of u.rooms) await timed('join', () => ackOk(s, cmd.timeoutMs, 'room:join', { room }), u.at);
      if (cmd.history)
        for (const room of u.rooms)
          await timed('history', async () => {
            const a = await ackOk(s, cmd.timeoutMs, 'history:sync', { room });
            counts.historyMessages += a.messages?.length ?? 0;
          });
      // The user's sends follow a schedule fixed from its arrival (think, type, send, ...): each send and its
      // deliveries are timed from its scheduled time, so a slow ack delays the clock, not the schedule.
      let n = 0;
      let next = u.at;
      for (;;) {
        if (over) return;
        const think = -Math.log(1 - Math.random()) * cmd.thinkMs; // exponential idle
        next += think + cmd.typingMs;
        if (next >= u.until) break;
        await sleep(next - cmd.typingMs - nowMs());
        const room = u.rooms[n % u.rooms.length];
        if (cmd.typing) {
          s.emit('typing', { room, typing: true });
          counts.typingSent++;
          await sleep(next - nowMs());
        }
        counters.sends++;
        const scheduled = next;
        const ok = await timed('send', () => ackOk(s, cmd.timeoutMs, 'message:send', { room, text: `${PREFIX}${scheduled.toFixed(3)}|${u.userId} hello ${n}`, clientMsgId: `${u.key}:${n}` }), scheduled);
        if (ok) {
          counts.sent++;
          counters.acks++;
        }
        if (cmd.typing) s.emit('typing', { room, typing: false });
        n++;
      }
      await sleep(u.until - nowMs());
      for (const room of u.rooms) await timed('leave', () => ackOk(s, cmd.timeoutMs, 'room:leave', { room }), u.until);
      counts.completed++;
    } finally {
      doneConnecting();
      if (held) counters.connected--;
      if (socket) open.delete(socket);
      socket?.disconnect();
    }
  };
  // Each action has its own timeout; the deadline is the backstop for the
  // whole mix: users not done by then are counted (never arrived / still busy)
  // and their sockets closed, so the answer does not wait for them.
  let busy = cmd.users.length;
  const users = cmd.users.map((u) => oneUser(u).finally(() => busy--));
  await withDeadline(
    Promise.all(users).then(() => undefined),
    cmd.deadlineAt - nowMs(),
    () => {
      over = true;
      if (busy > 0) {
        counters.errors += busy;
        errors['deadline: user not done in time'] = (errors['deadline: user not done in time'] ?? 0) + busy;
      }
      for (const s of open) s.disconnect();
    },
  );
  return { hist: Object.fromEntries([...hists].map(([k, h]) => [k, encode(h)])), errors, counts };
}
