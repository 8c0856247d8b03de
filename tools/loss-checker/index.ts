/**
 * Loss checker: did every tagged message reach every receiver exactly once, in order?
 *
 * Pure TypeScript, no I/O and no dependencies, shared by the e2e chaos specs
 * (e2e/) and the load-test harness. Producers tag each message with
 * `(producerId, seq)` (for chat: inside the text, see `tag()` / `parseTag()`),
 * seq counting up from 0 or 1 per producer; receivers log what they got, in
 * the order they got (or display) it; `check()` reports, per receiver and per
 * phase of the fault (`before`, `during`, `after`):
 * - lost: sent in that phase, never received;
 * - duplicated: received more than once (each extra copy counts once);
 * - reordered: received after a later message of the same producer
 *   (first copies only; a duplicate is not also counted as reordered).
 * The phase of a message is the phase in which it was sent.
 */

export type Phase = 'before' | 'during' | 'after';
export const PHASES: readonly Phase[] = ['before', 'during', 'after'];

export interface Tag {
  producerId: string;
  seq: number;
}

export interface Sent extends Tag {
  phase: Phase;
}

export interface PhaseReport {
  sent: number;
  received: number;
  lost: Tag[];
  duplicated: Tag[];
  reordered: Tag[];
}

export interface ReceiverReport {
  receiverId: string;
  phases: Record<Phase, PhaseReport>;
  /** Received tags that no producer reported sending (a bug in the test, or someone else's message). */
  unexpected: Tag[];
  totals: { sent: number; received: number; lost: number; duplicated: number; reordered: number };
}

export interface Report {
  receivers: ReceiverReport[];
  totals: { lost: number; duplicated: number; reordered: number; unexpected: number };
  /** True when nothing was lost or duplicated anywhere (reordering is reported, not judged). */
  clean: boolean;
}

export interface CheckInput {
  sent: readonly Sent[];
  /** receiverId -> tags in the order that receiver got them. */
  received: Record<string, readonly Tag[]>;
  /** Which sent messages a receiver should get; default: all of them. */
  expects?: (receiverId: string, message: Sent) => boolean;
}

const TAG_RE = /\[lc:([A-Za-z0-9_.-]{1,64}):(\d{1,9})\]/;

/** The marker to put in a message's text: `[lc:<producerId>:<seq>]`. */
export function tag(producerId: string, seq: number): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(producerId)) throw new Error(`producerId must be 1 to 64 of A-Z a-z 0-9 _ . -: ${producerId}`);
  if (!Number.isInteger(seq) || seq < 0) throw new Error(`seq must be a non-negative integer: ${seq}`);
  return `[lc:${producerId}:${seq}]`;
}

/** The tag inside a text, or null when it carries none. */
export function parseTag(text: string): Tag | null {
  const m = TAG_RE.exec(text);
  return m ? { producerId: m[1], seq: Number(m[2]) } : null;
}

const key = (t: Tag) => `${t.producerId}\u0000${t.seq}`;
const emptyPhase = (): PhaseReport => ({ sent: 0, received: 0, lost: [], duplicated: [], reordered: [] });

export function check(input: CheckInput): Report {
  const sentByKey = new Map<string, Sent>();
  for (const s of input.sent) {
    if (sentByKey.has(key(s))) throw new Error(`(${s.producerId}, ${s.seq}) was reported sent twice`);
    sentByKey.set(key(s), s);
  }
  const receivers: ReceiverReport[] = [];
  for (const [receiverId, got] of Object.entries(input.received)) {
    const phases = { before: emptyPhase(), during: emptyPhase(), after: emptyPhase() } as Record<Phase, PhaseReport>;
    const expected = input.sent.filter((s) => !input.expects || input.expects(receiverId, s));
    const expectedKeys = new Set(expected.map(key));
    for (const s of expected) phases[s.phase].sent += 1;
    const seen = new Set<string>();
    const highest = new Map<string, number>();
    const unexpected: Tag[] = [];
    for (const t of got) {
      const s = sentByKey.get(key(t));
      if (!s || !expectedKeys.has(key(t))) {
        unexpected.push({ producerId: t.producerId, seq: t.seq });
        continue;
      }
      const p = phases[s.phase];
      if (seen.has(key(t))) {
        p.duplicated.push({ producerId: t.producerId, seq: t.seq });
        continue;
      }
      seen.add(key(t));
      p.received += 1;
      const top = highest.get(t.producerId);
      if (top !== undefined && t.seq < top) p.reordered.push({ producerId: t.producerId, seq: t.seq });
      else highest.set(t.producerId, t.seq);
    }
    for (const s of expected) if (!seen.has(key(s))) phases[s.phase].lost.push({ producerId: s.producerId, seq: s.seq });
    const sum = (f: (p: PhaseReport) => number) => PHASES.reduce((n, ph) => n + f(phases[ph]), 0);
    receivers.push({
      receiverId,
      phases,
      unexpected,
      totals: {
        sent: sum((p) => p.sent),
        received: sum((p) => p.received),
        lost: sum((p) => p.lost.length),
        duplicated: sum((p) => p.duplicated.length),
        reordered: sum((p) => p.reordered.length),
      },
    });
  }
  const totals = {
    lost: receivers.reduce((n, r) => n + r.totals.lost, 0),
    duplicated: receivers.reduce((n, r) => n + r.totals.duplicated, 0),
    reordered: receivers.reduce((n, r) => n + r.totals.reordered, 0),
    unexpected: receivers.reduce((n, r) => n + r.unexpected.length, 0),
  };
  return { receivers, totals, clean: totals.lost === 0 && totals.duplicated === 0 };
}

/** One line per receiver and phase, for test output and load-test reports. */
export function formatReport(report: Report): string {
  const fmt = (ts: Tag[]) => (ts.length ? ` [${ts.slice(0, 10).map((t) => `${t.producerId}:${t.seq}`).join(' ')}${ts.length > 10 ? ' …' : ''}]` : '');
  const lines: string[] = [];
  for (const r of report.receivers) {
    for (const ph of PHASES) {
      const p = r.phases[ph];
      if (!p.sent && !p.received && !p.duplicated.length) continue;
      lines.push(`${r.receiverId} ${ph}: sent ${p.sent}, received ${p.received}, lost ${p.lost.length}${fmt(p.lost)}, ` +
        `duplicated ${p.duplicated.length}${fmt(p.duplicated)}, reordered ${p.reordered.length}${fmt(p.reordered)}`);
    }
    if (r.unexpected.length) lines.push(`${r.receiverId}: ${r.unexpected.length} unexpected${fmt(r.unexpected)}`);
  }
  return lines.join('\n');
}

/** A producer's sequence and log: `next(phase)` returns the tag to put in the next message. */
export class Producer {
  private seq = 0;
  readonly log: Sent[] = [];
  constructor(readonly producerId: string) {}
  next(phase: Phase): string {
    const s: Sent = { producerId: this.producerId, seq: this.seq++, phase };
    this.log.push(s);
    return tag(s.producerId, s.seq);
  }
}
