// What a client following the reliable-delivery recipe (docs/protocol.md)
// would display, per chaos phase in one worker: it renders messages keyed by
// `id`, so a message it received twice under one id (live twice, or live and
// again from history:sync) shows once, while one stored twice under two ids
// would show twice. Counted apart: the raw overlap (receipts from history of
// messages the client already had), and each client's history:sync anchor.

export interface ShownCounts {
  /** messages a client would show twice or more after de-duplicating by id: one (producer, seq) under several ids */
  shownTwice: number;
  /** history:sync answers that repeated a message the client already had (de-duplicated by id; not shown twice) */
  historyOverlap: number;
}

export class ShownMessages {
  /** receiver, producer, seq -> the id(s) it arrived under */
  private readonly ids = new Map<string, string | string[]>();
  private overlap = 0;

  /** `anchors`: per receiver and room, the newest message id it had when the phase began */
  constructor(private readonly anchors: Map<string, string>) {}

  /** One receipt of (producer, seq) under `id`, live or from history. */
  shown(receiver: string, producer: string, seq: number, id: string): void {
    const key = `${receiver}\u0000${producer}\u0000${seq}`;
    const had = this.ids.get(key);
    if (had === undefined) this.ids.set(key, id);
    else if (typeof had === 'string') {
      if (had !== id) this.ids.set(key, [had, id]);
    } else if (!had.includes(id)) had.push(id);
  }

  /** A history:sync answer repeated a message the receiver already had. */
  repeated(): void {
    this.overlap++;
  }

  /** Where `receiver`'s history:sync of `room` starts for this phase (undefined: the latest page). */
  anchor(receiver: string, room: string): string | undefined {
    return this.anchors.get(`${receiver}\u0000${room}`);
  }

  counts(): ShownCounts {
    let shownTwice = 0;
    for (const v of this.ids.values()) if (typeof v !== 'string') shownTwice += v.length - 1;
    return { shownTwice, historyOverlap: this.overlap };
  }
}
