// The harness's scenarios. Each takes the coordinator and a target (a running
// cluster behind nginx) and returns plain figures for report.json.
import crypto from 'node:crypto';
import { nowMs, sleep } from '../lib/clock';
import { judgeSetup, MIN_SETUP_DEADLINE_MS } from '../lib/deadline';
import { newHist, recordMs, summarise, type LatencySummary } from '../lib/hist';
import type { Coordinator, PhaseResult } from './coordinator';
import type { LossSummary } from './loss';
import type { ClientSpec } from './client-spec';
import type { ConnectResult, ProducerSpec } from './protocol';
import type { PhaseAccount, PhaseMeter } from '../lib/accounting';

export interface Target {
  name: 'switchboard' | 'stock' | string;
  url: string;
  presence: boolean;
}

export type Transport = 'websocket' | 'polling';

const rid = () => crypto.randomBytes(6).toString('hex');

export interface Population {
  clients: ClientSpec[];
  rooms: string[][]; // room index -> client keys
  roomNames: string[];
}

export interface StormResult {
  sockets: number;
  ratePerSec: number;
  durationS: number;
  connect: ConnectResult['errors'];
  ok: number;
  failed: number;
  latency: PhaseResult['latency'];
  /** the phase's deadline (lib/deadline.ts) */
  deadlineS?: number;
  /** set when some but not every socket connected (the scenario went on with the others) */
  shortfall?: string;
  /** set when none connected: the scenario could not go on */
  error?: string;
  /** the phase's CPU (lib/accounting.ts), when it was metered */
  account?: PhaseAccount;
}

/**
 * connect storm: `sockets` clients at `rate`/s (open model), each logs in, connects and joins its room.
 * `liteListeners`: every member but a room's first (its producer in a fan-out) only listens, on the small
 * ws client (harness/lite-client.ts). `meter`: the phase's CPU, per connect.
 */
export async function connectStorm(
  h: Coordinator,
  t: Target,
  o: { sockets: number; rate: number; rooms: number; transports: Transport[]; tag: string; liteListeners?: boolean },
  meter?: PhaseMeter,
): Promise<{ pop: Population; result: StormResult }> {
  const start = nowMs() + 500;
  const run = rid();
  const roomNames = Array.from({ length: o.rooms }, (_, j) => `lt-${run}-${j}`);
  const rooms: string[][] = roomNames.map(() => []);
  const clients: ClientSpec[] = [];
  for (let i = 0; i < o.sockets; i++) {
    const key = `c${i}`;
    const j = i % o.rooms;
    rooms[j].push(key);
    const lite = o.liteListeners === true && i >= o.rooms && o.transports.length === 1 && o.transports[0] === 'websocket';
    clients.push({ key, userId: `lt-${run}-u${i}`, cid: `lt-${run}-${i}`, rooms: [roomNames[j]], at: start + (i * 1000) / o.rate, ...(lite ? { lite } : {}) });
  }
  const phase = `storm-${o.tag}`;
  const mark = await meter?.begin(h);
  const began = nowMs();
  const r = await h.connect(phase, t.url, clients, { transports: o.transports });
  const durationS = (nowMs() - began) / 1000;
  const account = mark && meter ? await meter.end(h, mark, phase, { delivered: 0, sent: 0, connects: r.ok }) : undefined;
  const c = await h.collect(phase);
  const setup = judgeSetup({ expected: o.sockets, ok: r.ok, tookMs: durationS * 1000, deadlineMs: r.deadlineMs, errors: r.errors });
  return {
    pop: { clients, rooms, roomNames },
    result: { sockets: o.sockets, ratePerSec: o.rate, durationS: Math.round(durationS * 10) / 10, connect: r.errors, ok: r.ok, failed: r.failed, latency: c.latency, deadlineS: r.deadlineMs === undefined ? undefined : Math.round(r.deadlineMs / 1000), shortfall: setup.shortfall, error: setup.error, account },
  };
}

/** Throws the storm's one plain error when no socket connected (the scenario cannot go on without any). */
export function requireConnected(r: StormResult, what?: string): StormResult {
  if (r.error) throw new Error(what ? `${what}: ${r.error}` : r.error);
  return r;
}

export interface FanoutResult {
  phase: string;
  sockets: number;
  rooms: number;
  msgPerSec: number;
  durationS: number;
  loss: LossSummary;
  deliveryRatio: number;
  deliveriesPerSec: number;
  latency: PhaseResult['latency'];
  series: PhaseResult['series'];
  sendErrors: Record<string, number>;
  /** the phase's CPU and generator delay (lib/accounting.ts), when it was metered */
  account?: PhaseAccount;
  /** set when the phase does not count (its generators ran late): why */
  invalid?: string;
}

/** One producer per room (its first member), `msgPerSec` over all rooms, starting in a second. */
export function fanoutProducers(pop: Population, o: { msgPerSec: number; durationS: number; phase: string }): ProducerSpec[] {
  const intervalMs = (pop.rooms.length * 1000) / o.msgPerSec;
  const t0 = nowMs() + 1000;
  return pop.rooms.map((members, j) => {
    const start = t0 + Math.random() * intervalMs;
    return { client: members[0], producer: `${o.phase}.${j}`, room: pop.roomNames[j], members, start, intervalMs, end: t0 + o.durationS * 1000 };
  });
}

/** fan-out: one producer per room (its first member) on a fixed schedule; every member, sender included, must receive every message. */
export async function fanout(
  h: Coordinator,
  pop: Population,
  o: { msgPerSec: number; durationS: number; phase: string; textPad?: number; stall?: { everyMs: number; forMs: number } },
  meter?: PhaseMeter,
): Promise<FanoutResult> {
  const R = pop.rooms.length;
  const mark = await meter?.begin(h);
  const producers = fanoutProducers(pop, o);
  const window = meter?.machineWindow(Math.min(...producers.map((p) => p.start)), producers[0]?.end ?? nowMs());
  const acked = await h.sendOnly(o.phase, producers, { textPad: o.textPad ?? 0, stall: o.stall });
  const sent = Object.values(acked).reduce((a, seqs) => a + seqs.length, 0);
  const busy = window?.();
  // Read before the loss count, whose work in the workers is the harness's, not the phase's.
  const account = mark && meter ? await meter.end(h, mark, o.phase, { delivered: 0, sent }, busy) : undefined;
  const loss = await h.loss(o.phase, acked);
  if (account) account.delivered = loss.delivered;
  const c = await h.collect(o.phase);
  const sockets = pop.rooms.reduce((a, r) => a + r.length, 0);
  return {
    phase: o.phase,
    sockets,
    rooms: R,
    msgPerSec: o.msgPerSec,
    durationS: o.durationS,
    loss,
    deliveryRatio: loss.expected ? loss.delivered / loss.expected : 0,
    deliveriesPerSec: Math.round(loss.delivered / o.durationS),
    latency: c.latency,
    series: c.series,
    sendErrors: c.sendErrors,
    account,
    invalid: account?.invalid,
  };
}

/** Which replica a cid lands on (nginx hashes ?cid=; X-Served-By names the replica). */
export async function replicaOf(url: string, cid: string): Promise<string> {
  try {
    const res = await fetch(`${url}/health?cid=${encodeURIComponent(cid)}`, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.headers.get('x-served-by') ?? '?';
  } catch {
    return '?'; // no answer (down, refused or timed out): the replica is unknown, shown as "?"
  }
}

/** One cid per replica (up to `replicas` of them), looked for during at most `deadlineMs`. */
export async function cidPerReplica(url: string, prefix: string, replicas: number, deadlineMs = MIN_SETUP_DEADLINE_MS): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const until = nowMs() + deadlineMs;
  for (let i = 0; i < 200 && found.size < replicas && nowMs() < until; i++) {
    const cid = `${prefix}-${i}`;
    const r = await replicaOf(url, cid);
    if (r !== '?' && !found.has(r)) found.set(r, cid);
  }
  return found;
}

export interface PresenceResult {
  churners: number;
  ratePerSec: number;
  holdMs: number;
  observers: number;
  connected: number;
  online: LatencySummary;
  offline: LatencySummary;
  /** churner connects no observer on another replica heard about */
  missedOnline: number;
  missedOffline: number;
  observersConnected?: number;
  /** set when not every observer or churner connected (the churn went on with the others) */
  shortfall?: string;
}

/** presence churn: users connect and disconnect at a rate; observers on the other replicas, subscribed to them, time presence:update. */
export async function presenceChurn(h: Coordinator, t: Target, o: { churners: number; rate: number; holdMs: number; replicas: number; transports: Transport[] }): Promise<PresenceResult> {
  const run = rid();
  const obs = await cidPerReplica(t.url, `lt-obs-${run}`, o.replicas);
  if (!obs.size) throw new Error(`no replica answered /health within ${MIN_SETUP_DEADLINE_MS / 1000} s; the stack is not accepting connections`);
  const phase = 'presence';
  const churnerIds = Array.from({ length: o.churners }, (_, i) => `lt-${run}-ch${i}`);
  const observers: ClientSpec[] = [...obs].map(([replica, cid]) => ({ key: `obs-${replica}`, userId: `lt-${run}-obs-${replica}`.slice(0, 64), cid, rooms: [], at: nowMs(), observePresence: { userIds: churnerIds } }));
  const ro = await h.connect(phase, t.url, observers, { transports: o.transports });
  const obsSetup = judgeSetup({ expected: observers.length, ok: ro.ok, tookMs: ro.tookMs ?? 0, deadlineMs: ro.deadlineMs, errors: ro.errors, noun: 'observers' });
  if (obsSetup.error) throw new Error(obsSetup.error);
  // Each churner's home replica (the /health answers are bounded as a whole too: unknown after the deadline).
  const replicaOfChurner = new Map<string, string>();
  const lookupUntil = nowMs() + MIN_SETUP_DEADLINE_MS + o.churners * 100;
  for (let i = 0; i < o.churners; i++) replicaOfChurner.set(churnerIds[i], nowMs() < lookupUntil ? await replicaOf(t.url, `lt-${run}-ch${i}`) : '?');
  const start = nowMs() + 500;
  const churners: ClientSpec[] = churnerIds.map((userId, i) => ({ key: `ch${i}`, userId, cid: `lt-${run}-ch${i}`, rooms: [], at: start + (i * 1000) / o.rate }));
  // Churners are placed after the observers so they never share a worker slot order assumption.
  const r = await h.connect(phase, t.url, churners, { transports: o.transports, holdMs: o.holdMs });
  const chSetup = judgeSetup({ expected: churners.length, ok: r.ok, tookMs: r.tookMs ?? 0, deadlineMs: r.deadlineMs, errors: r.errors, noun: 'churners' });
  if (chSetup.error) {
    await h.disconnectAll();
    throw new Error(chSetup.error);
  }
  await sleep(2000);
  const c = await h.collect(phase);
  const obsReplica = new Map([...obs].map(([replica]) => [`obs-${replica}`, replica]));
  const on = newHist();
  const off = newHist();
  let missedOnline = 0;
  let missedOffline = 0;
  for (const ch of churners) {
    const home = replicaOfChurner.get(ch.userId);
    const heard = c.presence.filter((p) => p.userId === ch.userId && obsReplica.get(p.observer) !== home);
    const at = r.connectedAt[ch.key];
    const gone = r.disconnectedAt[ch.key];
    if (at === undefined) continue;
    const firstOn = heard.filter((p) => p.online).sort((a, b) => a.at - b.at)[0];
    if (firstOn) recordMs(on, Math.max(0, firstOn.at - at));
    else missedOnline++;
    if (gone !== undefined) {
      const firstOff = heard.filter((p) => !p.online && p.at >= gone - 1).sort((a, b) => a.at - b.at)[0];
      if (firstOff) recordMs(off, Math.max(0, firstOff.at - gone));
      else missedOffline++;
    }
  }
  await h.disconnectAll();
  const shortfall = [obsSetup.shortfall, chSetup.shortfall].filter(Boolean).join('; ') || undefined;
  return { churners: o.churners, ratePerSec: o.rate, holdMs: o.holdMs, observers: observers.length, observersConnected: ro.ok, connected: r.ok, online: summarise(on), offline: summarise(off), missedOnline, missedOffline, shortfall };
}
