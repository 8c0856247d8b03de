// Starts the worker processes, talks to them over IPC, adds up their counters
// for the live progress line and merges their histograms.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { nowMs } from '../lib/clock';
import { scheduleSpreadMs, setupDeadlineMs, WORKER_GRACE_MS, withDeadline } from '../lib/deadline';
import type { GeneratorReading } from '../lib/generator-gauge';
import { merge, summarise, type LatencySummary } from '../lib/hist';
import { addLoss, emptyLoss, type LossSummary } from './loss';
import type { ChatCmd, ChatCollect, ChatUser } from './chat';
import { clientBudgetMs, type ClientSpec } from './client-spec';
import type { Counters } from './counters';
import type { Cmd, ConnectResult, PhaseCollect, ProducerSpec } from './protocol';
import type { ResyncResult } from './resync';
import type { ShownCounts } from './shown';

export interface PhaseResult {
  latency: Record<string, LatencySummary>;
  series: { sec: number; deliveries: number; p50: number; p99: number; max: number }[];
  presence: PhaseCollect['presence'];
  sendErrors: Record<string, number>;
}

export class Coordinator {
  private readonly workers: ChildProcess[] = [];
  private readonly stats: Counters[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private ticker?: NodeJS.Timeout;
  label = '';
  /** every 2 s while progress is on: sockets held and deliveries per second */
  readonly timeline: { t: number; label: string; sockets: number; deliveriesPerSec: number; sendsPerSec: number; errors: number }[] = [];

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const w = fork(path.join(__dirname, 'worker.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      this.stats.push({ connected: 0, connecting: 0, sends: 0, acks: 0, deliveries: 0, errors: 0 });
      w.on('message', (m: { id?: number; ok?: boolean; result?: unknown; error?: string; stats?: Counters }) => {
        if (m.stats) this.stats[i] = m.stats;
        else if (m.id !== undefined) {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (m.ok) p?.resolve(m.result);
          else p?.reject(new Error(`worker ${i}: ${m.error}`));
        }
      });
      w.on('exit', (code) => {
        for (const [, p] of this.pending) p.reject(new Error(`worker ${i} exited (${code})`));
      });
      this.workers.push(w);
    }
  }

  totals(): Counters {
    return this.stats.reduce(
      (a, s) => ({ connected: a.connected + s.connected, connecting: a.connecting + s.connecting, sends: a.sends + s.sends, acks: a.acks + s.acks, deliveries: a.deliveries + s.deliveries, errors: a.errors + s.errors }),
      { connected: 0, connecting: 0, sends: 0, acks: 0, deliveries: 0, errors: 0 },
    );
  }

  /** Live progress: one line every 2 s (phase, sockets, sends, deliveries/s, errors). */
  progress(on: boolean): void {
    clearInterval(this.ticker);
    if (!on) return;
    let last = this.totals();
    let lastT = Date.now();
    this.ticker = setInterval(() => {
      const t = this.totals();
      const dt = (Date.now() - lastT) / 1000;
      console.log(
        `    [${this.label}] sockets ${t.connected}${t.connecting ? ` (+${t.connecting} connecting)` : ''}  sends ${t.sends} (${Math.round((t.sends - last.sends) / dt)}/s)  deliveries ${t.deliveries} (${Math.round((t.deliveries - last.deliveries) / dt)}/s)  errors ${t.errors}`,
      );
      this.timeline.push({ t: Date.now(), label: this.label, sockets: t.connected, deliveriesPerSec: Math.round((t.deliveries - last.deliveries) / dt), sendsPerSec: Math.round((t.sends - last.sends) / dt), errors: t.errors });
      last = t;
      lastT = Date.now();
    }, 2000);
  }

  call<T>(worker: number, cmd: Cmd): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.workers[worker].send({ id, cmd });
    });
  }

  /**
   * Like call, but gives up after `ms`: undefined then (a worker that stopped
   * answering must not hold the run; a late answer is dropped).
   */
  callWithin<T>(worker: number, cmd: Cmd, ms: number): Promise<T | undefined> {
    const id = this.nextId++;
    const answer = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.workers[worker].send({ id, cmd });
    });
    return withDeadline<T | undefined>(answer, ms, () => {
      this.pending.delete(id);
      return undefined;
    });
  }

  all<T>(cmd: (worker: number) => Cmd | undefined): Promise<T[]> {
    return Promise.all(
      this.workers.map((_, i) => {
        const c = cmd(i);
        return c ? this.call<T>(i, c) : Promise.resolve(undefined as T);
      }),
    );
  }

  /** Which worker holds a client: clients are dealt round-robin by their number. */
  workerOf(index: number): number {
    return index % this.size;
  }

  /**
   * Logs in, connects and joins `clients` on their schedule. Never waits past
   * a deadline (lib/deadline.ts: the schedule's spread twice, plus one
   * client's worst case and a margin, at least 30 s; `deadlineMs` overrides):
   * the workers count whoever is not connected and joined by then as failed,
   * and a worker that does not answer within a grace after it has its whole
   * share counted as failed.
   */
  async connect(phase: string, url: string, clients: ClientSpec[], opts: { transports: ('websocket' | 'polling')[]; holdMs?: number; timeoutMs?: number; deadlineMs?: number }): Promise<ConnectResult> {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const holdMs = opts.holdMs ?? 0;
    const began = nowMs();
    const deadlineMs =
      opts.deadlineMs ??
      setupDeadlineMs({
        spreadMs: scheduleSpreadMs(clients.map((c) => c.at), began),
        perClientMs: Math.max(0, ...clients.map((c) => clientBudgetMs(c, timeoutMs))),
      });
    const deadlineAt = began + deadlineMs;
    const shares: ClientSpec[][] = this.workers.map(() => []);
    clients.forEach((c, i) => shares[this.workerOf(i)].push(c));
    this.clientWorker ??= new Map();
    clients.forEach((c, i) => this.clientWorker!.set(c.key, this.workerOf(i)));
    // The workers end the phase by deadlineAt; a held client (presence churn) stays holdMs longer.
    const waitMs = deadlineMs + holdMs + WORKER_GRACE_MS;
    const parts = await Promise.all(
      shares.map((share, i) =>
        share.length ? this.callWithin<ConnectResult>(i, { type: 'connect', phase, url, clients: share, transports: opts.transports, holdMs, timeoutMs, deadlineAt, deadlineMs }, waitMs).then((p) => ({ p, share })) : undefined,
      ),
    );
    const out: ConnectResult = { ok: 0, failed: 0, errors: {}, connectedAt: {}, disconnectedAt: {}, deadlineMs, tookMs: 0 };
    for (const part of parts) {
      if (!part) continue;
      const p = part.p;
      if (!p) {
        out.failed += part.share.length;
        out.errors['worker did not answer by the deadline'] = (out.errors['worker did not answer by the deadline'] ?? 0) + part.share.length;
        continue;
      }
      out.ok += p.ok;
      out.failed += p.failed;
      for (const [k, v] of Object.entries(p.errors)) out.errors[k] = (out.errors[k] ?? 0) + v;
      Object.assign(out.connectedAt, p.connectedAt);
      Object.assign(out.disconnectedAt, p.disconnectedAt);
    }
    out.tookMs = Math.round(nowMs() - began);
    return out;
  }

  private clientWorker?: Map<string, number>;

  /** Runs a send schedule; returns the loss summary over every member of every room. */
  async send(phase: string, producers: ProducerSpec[], opts: { ackTimeoutMs?: number; textPad?: number; settleMs?: number } = {}): Promise<LossSummary> {
    return this.loss(phase, await this.sendOnly(phase, producers, opts));
  }

  /** The send schedule alone: returns, per producer, the acknowledged sequence numbers. */
  async sendOnly(phase: string, producers: ProducerSpec[], opts: { ackTimeoutMs?: number; textPad?: number; settleMs?: number; stall?: { everyMs: number; forMs: number }; track?: boolean } = {}): Promise<Record<string, number[]>> {
    const where = (key: string) => this.clientWorker?.get(key) ?? 0;
    const members = producers.flatMap((p) => p.members.map((receiver) => ({ receiver, producer: p.producer })));
    await this.all((i) => ({ type: 'members', phase, members: members.filter((m) => where(m.receiver) === i), track: opts.track }));
    await this.all((i) => ({ type: 'send', phase, producers: producers.filter((p) => where(p.client) === i), ackTimeoutMs: opts.ackTimeoutMs ?? 10_000, textPad: opts.textPad ?? 0, stall: opts.stall }));
    // Deliveries still in flight when the last ack came back.
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 2000));
    return Object.assign({}, ...(await this.all<Record<string, number[]>>(() => ({ type: 'acked', phase }))));
  }

  /** Loss, duplicates and reordering of a phase so far (it can be asked again after a resync). */
  async loss(phase: string, acked: Record<string, number[]>): Promise<LossSummary> {
    const parts = await this.all<LossSummary>(() => ({ type: 'loss', phase, acked }));
    return parts.reduce(addLoss, emptyLoss());
  }

  /**
   * Reconnects the clients that lost their socket and fills their gaps from
   * history (harness/resync.ts), each step tried `attempts` times; never past a deadline.
   */
  async resync(phase: string, url: string, clients: ClientSpec[], opts: { transports: ('websocket' | 'polling')[]; history: boolean; timeoutMs?: number; attempts?: number; retryMs?: number }): Promise<ResyncResult> {
    const where = (key: string) => this.clientWorker?.get(key) ?? 0;
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const attempts = Math.max(1, opts.attempts ?? 1);
    // Every reconnect at once: no schedule to spread; each client's worst case is login, connect, its joins, then its history reads, every try.
    const perTryMs = Math.max(0, ...clients.map((c) => clientBudgetMs(c, timeoutMs) + c.rooms.length * timeoutMs));
    const perClientMs = attempts * perTryMs + (attempts - 1) * 2 * (opts.retryMs ?? 1000);
    const deadlineMs = setupDeadlineMs({ spreadMs: 0, perClientMs });
    const parts = await Promise.all(
      this.workers.map(async (_, i) => {
        const mine = clients.filter((c) => where(c.key) === i);
        const r = await this.callWithin<ResyncResult>(i, { type: 'resync', phase, url, clients: mine, transports: opts.transports, history: opts.history, timeoutMs, attempts, retryMs: opts.retryMs }, deadlineMs + WORKER_GRACE_MS);
        // No answer: none of its clients counts as reconnected.
        return r ?? { reconnected: 0, reconnectFailed: mine.length, reconnectMs: deadlineMs + WORKER_GRACE_MS, recovered: 0, syncErrors: 0, syncErrorCodes: {} };
      }),
    );
    return parts.reduce((a, b) => ({
      reconnected: a.reconnected + b.reconnected,
      reconnectFailed: a.reconnectFailed + b.reconnectFailed,
      reconnectMs: Math.max(a.reconnectMs, b.reconnectMs),
      recovered: a.recovered + b.recovered,
      syncErrors: a.syncErrors + b.syncErrors,
      syncErrorCodes: addCounts(a.syncErrorCodes, b.syncErrorCodes),
      retried: (a.retried ?? 0) + (b.retried ?? 0),
      internalAcks: (a.internalAcks ?? 0) + (b.internalAcks ?? 0),
      http5xx: addCounts(a.http5xx ?? {}, b.http5xx ?? {}),
    }));
  }

  /** Duplicates as clients would show them, and history's overlap, of a tracked phase (harness/shown.ts), over every worker. */
  async shown(phase: string): Promise<ShownCounts> {
    const parts = await this.all<ShownCounts>(() => ({ type: 'shown', phase }));
    return parts.reduce((a, b) => ({ shownTwice: a.shownTwice + b.shownTwice, historyOverlap: a.historyOverlap + b.historyOverlap }), { shownTwice: 0, historyOverlap: 0 });
  }

  /**
   * Chat-mix users, dealt round-robin over the workers (harness/chat.ts). The
   * workers stop at `deadlineAt` (users still busy then count as errors); a
   * worker that does not answer within a grace after it has all its users
   * counted as failed.
   */
  async chat(cmd: Omit<ChatCmd, 'type' | 'users'>, users: ChatUser[]): Promise<{ latency: Record<string, LatencySummary>; errors: Record<string, number>; counts: Record<string, number> }> {
    const waitMs = Math.max(0, cmd.deadlineAt - nowMs()) + WORKER_GRACE_MS;
    const shares = this.workers.map((_, i) => users.filter((_, k) => this.workerOf(k) === i));
    const answers = await Promise.all(shares.map((share, i) => this.callWithin<ChatCollect>(i, { ...cmd, type: 'chat', users: share }, waitMs)));
    const parts: ChatCollect[] = answers.map((a, i) => a ?? { hist: {}, errors: shares[i].length ? { 'worker did not answer by the deadline': shares[i].length } : {}, counts: {} });
    const names = new Set(parts.flatMap((p) => Object.keys(p.hist)));
    const latency: Record<string, LatencySummary> = {};
    for (const n of names) latency[n] = summarise(merge(parts.map((p) => p.hist[n])));
    return { latency, errors: parts.map((p) => p.errors).reduce(addCounts, {}), counts: parts.map((p) => p.counts).reduce(addCounts, {}) };
  }

  async collect(phase: string): Promise<PhaseResult> {
    const parts = await this.all<PhaseCollect>(() => ({ type: 'collect', phase }));
    const names = new Set(parts.flatMap((p) => Object.keys(p.hist)));
    const latency: Record<string, LatencySummary> = {};
    for (const n of names) latency[n] = summarise(merge(parts.map((p) => p.hist[n])));
    const secs = new Map<number, { deliveries: number; hists: string[] }>();
    for (const p of parts)
      for (const s of p.series) {
        const e = secs.get(s.sec) ?? { deliveries: 0, hists: [] };
        e.deliveries += s.deliveries;
        e.hists.push(s.hist);
        secs.set(s.sec, e);
      }
    const series = [...secs]
      .sort((a, b) => a[0] - b[0])
      .map(([sec, e]) => {
        const s = summarise(merge(e.hists));
        return { sec, deliveries: e.deliveries, p50: s.p50, p99: s.p99, max: s.max };
      });
    const sendErrors = parts.map((p) => p.sendErrors).reduce(addCounts, {});
    return { latency, series, presence: parts.flatMap((p) => p.presence), sendErrors };
  }

  /** Starts every worker's per-phase CPU and event-loop gauge (lib/generator-gauge.ts). */
  async genMark(): Promise<void> {
    await this.all(() => ({ type: 'gen-mark' }));
  }

  /** Every worker's CPU and event-loop delay since genMark. */
  genRead(): Promise<GeneratorReading[]> {
    return this.all<GeneratorReading>(() => ({ type: 'gen-read' }));
  }

  async disconnectAll(): Promise<void> {
    await this.all(() => ({ type: 'disconnect' }));
    this.clientWorker?.clear();
  }

  async close(): Promise<void> {
    this.progress(false);
    // A worker that cannot take the exit command (already gone, or stuck) is killed just below.
    await Promise.race([this.all(() => ({ type: 'exit' })).catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    for (const w of this.workers) if (w.exitCode === null) w.kill('SIGKILL');
  }
}

/** Two tallies by key, added. */
function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}
