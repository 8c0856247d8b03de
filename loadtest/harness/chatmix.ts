// Chat mix, the coordinator side (the users themselves: harness/chat.ts).
import crypto from 'node:crypto';
import { nowMs } from '../lib/clock';
import type { LatencySummary } from '../lib/hist';
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
  const began = nowMs();
  try {
    const r = await h.chat({ phase: 'chat', url: ctx.target.url, transports: ctx.transports, timeoutMs: 20_000, thinkMs: c.thinkMs, typingMs: c.typingMs, history: ctx.switchboard, typing: true }, users);
    const out: ChatMixResult = { ...c, durationS: Math.round((nowMs() - began) / 100) / 10, ...r, notApplicable: ctx.switchboard ? [] : ['history'] };
    ctx.info(
      `users ${r.counts.completed ?? 0}/${c.users} completed; sent ${r.counts.sent ?? 0}, delivered ${r.counts.delivered ?? 0}; p99 ms: ${CHAT_ACTIONS.map((a) => `${a} ${r.latency[a]?.p99 ?? 'n/a'}`).join(', ')}; typing relays ${r.counts.typingReceived ?? 0}; errors ${Object.values(r.errors).reduce((a, b) => a + b, 0)}`,
    );
    return out;
  } finally {
    await h.close();
  }
}
