// Loss, duplicate and reorder counting behind one small interface. The
// counting itself is the shared checker of the failure suites
// (tools/loss-checker); the minimal one below is kept as a fallback
// (LT_LOSS_CHECKER=minimal) and to cross-check it.
//
// Each worker keeps one checker per phase for the receivers it hosts; the
// coordinator tells it which (producer, seq) were acknowledged, and the worker
// answers with counts that the coordinator adds up.
import { check, type Tag } from '@switchboard/loss-checker';

export interface LossSummary {
  /** acknowledged sends x members of the room that should have received them */
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  /** receipts of sends that were never acknowledged (errors, timeouts) */
  unexpected: number;
}

export interface LossChecker {
  /** One receiver `receiver` is a member of the room `producer` sends to. */
  member(receiver: string, producer: string): void;
  received(receiver: string, producer: string, seq: number): void;
  /** Whether `receiver` already has (producer, seq): history:sync only adds what is missing. */
  seen(receiver: string, producer: string, seq: number): boolean;
  /** `acked`: per producer, the sequence numbers the server acknowledged. */
  summary(acked: Record<string, number[]>): LossSummary;
}

export const emptyLoss = (): LossSummary => ({ expected: 0, delivered: 0, lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });

export function addLoss(a: LossSummary, b: LossSummary): LossSummary {
  return {
    expected: a.expected + b.expected,
    delivered: a.delivered + b.delivered,
    lost: a.lost + b.lost,
    duplicated: a.duplicated + b.duplicated,
    reordered: a.reordered + b.reordered,
    unexpected: a.unexpected + b.unexpected,
  };
}

class MinimalLossChecker implements LossChecker {
  private readonly streams = new Map<string, { producer: string; seen: Set<number>; last: number; dup: number; reord: number }>();

  private stream(receiver: string, producer: string) {
    const key = `${receiver}\u0000${producer}`;
    let s = this.streams.get(key);
    if (!s) this.streams.set(key, (s = { producer, seen: new Set(), last: -1, dup: 0, reord: 0 }));
    return s;
  }

  member(receiver: string, producer: string): void {
    this.stream(receiver, producer);
  }

  received(receiver: string, producer: string, seq: number): void {
    const s = this.stream(receiver, producer);
    if (s.seen.has(seq)) s.dup++;
    else {
      if (seq < s.last) s.reord++;
      s.seen.add(seq);
      s.last = Math.max(s.last, seq);
    }
  }

  seen(receiver: string, producer: string, seq: number): boolean {
    return this.stream(receiver, producer).seen.has(seq);
  }

  summary(acked: Record<string, number[]>): LossSummary {
    const out = emptyLoss();
    for (const s of this.streams.values()) {
      const want = acked[s.producer];
      if (!want) continue;
      const wantSet = new Set(want);
      let got = 0;
      for (const seq of want) if (s.seen.has(seq)) got++;
      out.expected += want.length;
      out.delivered += got;
      out.lost += want.length - got;
      out.duplicated += s.dup;
      out.reordered += s.reord;
      for (const seq of s.seen) if (!wantSet.has(seq)) out.unexpected++;
    }
    return out;
  }
}

/**
 * tools/loss-checker's check(), run per producer (its sends against the
 * receivers of its room) so the cost stays members x sends, not
 * receivers x every send of the phase.
 */
class SharedLossChecker implements LossChecker {
  private readonly got = new Map<string, Map<string, Tag[]>>(); // producer -> receiver -> arrivals
  private readonly have = new Set<string>(); // receiver, producer, seq

  member(receiver: string, producer: string): void {
    let m = this.got.get(producer);
    if (!m) this.got.set(producer, (m = new Map()));
    if (!m.has(receiver)) m.set(receiver, []);
  }

  received(receiver: string, producer: string, seq: number): void {
    this.member(receiver, producer);
    this.got.get(producer)!.get(receiver)!.push({ producerId: producer, seq });
    this.have.add(`${receiver}\u0000${producer}\u0000${seq}`);
  }

  seen(receiver: string, producer: string, seq: number): boolean {
    return this.have.has(`${receiver}\u0000${producer}\u0000${seq}`);
  }

  summary(acked: Record<string, number[]>): LossSummary {
    const out = emptyLoss();
    for (const [producer, receivers] of this.got) {
      const want = acked[producer];
      if (!want) continue;
      const r = check({ sent: want.map((seq) => ({ producerId: producer, seq, phase: 'during' as const })), received: Object.fromEntries(receivers) });
      for (const rr of r.receivers) {
        out.expected += rr.totals.sent;
        out.delivered += rr.totals.received;
      }
      out.lost += r.totals.lost;
      out.duplicated += r.totals.duplicated;
      out.reordered += r.totals.reordered;
      out.unexpected += r.totals.unexpected;
    }
    return out;
  }
}

export function createLossChecker(): LossChecker {
  return process.env.LT_LOSS_CHECKER === 'minimal' ? new MinimalLossChecker() : new SharedLossChecker();
}
