// Chat mix, the coordinator side (the users themselves: harness/chat.ts).
import crypto from 'node:crypto';
import { PhaseMeter, type PhaseAccount } from '../lib/accounting';
import { nowMs } from '../lib/clock';
import { judgeSetup, scheduleSpreadMs, setupDeadlineMs } from '../lib/deadline';
import type { LatencySummary } from '../lib/hist';
import { Sampler } from '../lib/sampler';
import type { ChatSpec } from '../profiles';
import type { ChatUser } from './chat';
import type { ScenarioCtx } from './context';
import { Coordinator } from './coordinator';

export interface ChatMixResult extends ChatSpec {
  durationS: number;
  /** per action: login, connect, join, history, send (ack), delivery, leave */
  latency: Record<string, LatencySummary>;
  errors: Record<string, number>;
  counts: Record<string, number>;
  /** actions the target cannot do (the stock server: history) */
  notApplicable: string[];
  /** the mix's deadline (lib/deadline.ts) */
  deadlineS?: number;
  /** set when not every user connected (the mix went on with the others) */
  shortfall?: string;
  /** the mix's CPU (lib/accounting.ts), per sent and delivered message, and the replicas' own send timings */
  account?: PhaseAccount;
}

export const CHAT_ACTIONS = ['login', 'connect', 'join', 'history', 'send', 'delivery', 'leave'] as const;

export async function runChatMix(ctx: ScenarioCtx, workers: number): Promise<ChatMixResult> {
  const c = ctx.profile.chat!;
  const run = crypto.randomBytes(4).toString('hex');
  const rooms = Array.from({ length: c.rooms }, (_, j) => `cm-${run}-${j}`);
  const start = nowMs() + 1000;
  const users: ChatUser[] = Array.from({ length: c.users }, (_, i) => {
    const at = start + (i * 1000) / c.rate;
    const n = 1 + Math.floor(Math.random() * c.maxRoomsPerUser);
    const first = Math.floor(Math.random() * c.rooms);
    return { key: `cm${i}`, userId: `cm-${run}-u${i}`, cid: `cm-${run}-${i}`, at, until: at + c.sessionS * 1000, rooms: Array.from({ length: n }, (_, k) => rooms[(first + k) % c.rooms]) };
  });
  ctx.step(`[${ctx.spec.label}] chat mix: ${c.users} users at ${c.rate}/s, ${c.sessionS} s each, 1-${c.maxRoomsPerUser} of ${c.rooms} rooms, a message every ~${c.thinkMs} ms per user`);
  const h = new Coordinator(workers);
  h.label = `${ctx.spec.label} chat`;
  h.progress(true);
  // Metered like a fan-out phase: what the mix costs the server per message, and where a send's time goes.
  const sampler = new Sampler(ctx.spec.label, ctx.target.url, ctx.spec.project, ctx.spec.replicas);
  await sampler.start().catch((e: Error) => ctx.info(`sampler: ${e.message}`));
  const meter = new PhaseMeter(sampler, ctx.profile.generatorLagP99LimitMs);
  const mark = await meter.begin(h);
  const began = nowMs();
  // Every action of a user has its own timeout; the mix as a whole ends at the
  // latest by: the arrivals (twice their spread), a session, one user's worst
  // case (login, connect, a join + a history read per room, a last send, a
  // leave per room: one timeout each) and a margin.
  const timeoutMs = 20_000;
  const deadlineMs = setupDeadlineMs({ spreadMs: scheduleSpreadMs(users.map((u) => u.at), began), perClientMs: c.sessionS * 1000 + c.typingMs + (3 + 3 * c.maxRoomsPerUser) * timeoutMs });
  try {
    const r = await h.chat({ phase: 'chat', url: ctx.target.url, transports: ctx.transports, timeoutMs, thinkMs: c.thinkMs, typingMs: c.typingMs, history: ctx.switchboard, typing: true, deadlineAt: began + deadlineMs }, users);
    const tookMs = nowMs() - began;
    const account = await meter.end(h, mark, 'chat', { delivered: r.counts.delivered ?? 0, sent: r.counts.sent ?? 0 });
    const setup = judgeSetup({ expected: c.users, ok: r.counts.connected ?? 0, tookMs, deadlineMs, errors: r.errors, noun: 'users' });
    if (setup.error) throw new Error(setup.error);
    if (setup.shortfall) ctx.info(`shortfall: ${setup.shortfall}`);
    const out: ChatMixResult = { ...c, durationS: Math.round(tookMs / 100) / 10, ...r, notApplicable: ctx.switchboard ? [] : ['history'], deadlineS: Math.round(deadlineMs / 1000), shortfall: setup.shortfall, account };
    ctx.info(
      `users ${r.counts.completed ?? 0}/${c.users} completed; sent ${r.counts.sent ?? 0}, delivered ${r.counts.delivered ?? 0}; p99 ms: ${CHAT_ACTIONS.map((a) => `${a} ${r.latency[a]?.p99 ?? 'n/a'}`).join(', ')}; typing relays ${r.counts.typingReceived ?? 0}; errors ${Object.values(r.errors).reduce((a, b) => a + b, 0)}`,
    );
    return out;
  } finally {
    await sampler.stop();
    await h.close();
  }
}
