// Deadlines for the setup phases (logins, socket connects, room joins, worker
// answers): a stack that stops accepting connections (the local MongoDB
// stand-in wedged, docs/benchmarks.md) must end a phase with a count, never
// leave the run waiting for good. Pure helpers, unit-tested in deadline.test.ts.

/** Never less than this for a setup phase: a slow 2-core machine must not be cut off. */
export const MIN_SETUP_DEADLINE_MS = 30_000;
/** Added to every setup deadline on top of the planned work. */
export const SETUP_MARGIN_MS = 30_000;
/** How long the coordinator waits for a worker's answer after the workers' own deadline. */
export const WORKER_GRACE_MS = 15_000;

/**
 * How long a setup phase may take: its arrival schedule (`spreadMs`, e.g.
 * sockets / connect rate) counted twice (a machine that runs behind schedule),
 * plus the worst case of one client (`perClientMs`: its login, connect and
 * joins, each bounded by its own timeout) and a margin; at least 30 s.
 */
export function setupDeadlineMs(o: { spreadMs: number; perClientMs: number; marginMs?: number; minMs?: number }): number {
  const spread = Math.max(0, Number.isFinite(o.spreadMs) ? o.spreadMs : 0);
  return Math.max(o.minMs ?? MIN_SETUP_DEADLINE_MS, Math.ceil(2 * spread + Math.max(0, o.perClientMs) + (o.marginMs ?? SETUP_MARGIN_MS)));
}

/** The spread of an arrival schedule (epoch ms per client) from `now`: when the last one starts. */
export function scheduleSpreadMs(at: number[], now: number): number {
  let last = now;
  for (const t of at) if (t > last) last = t;
  return last - now;
}

/**
 * Resolves with `p`, or with `onTimeout()` once `ms` have passed (whichever
 * comes first); the timer never outlives the race. `p` keeps running: the
 * caller makes sure a late result is ignored.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), Math.max(0, ms));
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

export interface SetupOutcome {
  expected: number;
  ok: number;
  /** expected - ok */
  missing: number;
  /** set when nothing connected: the scenario cannot go on (one plain sentence) */
  error?: string;
  /** set when some but not all connected: the scenario goes on with what it has */
  shortfall?: string;
}

const secs = (ms: number) => Math.round(ms / 1000);

/** The most frequent error of a phase, for the message ("login: HTTP 503: 500"). */
export function topErrors(errors: Record<string, number> | undefined, n = 2): string {
  return Object.entries(errors ?? {})
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
}

/**
 * Judges a setup phase: how many of the expected sockets (users) came up
 * within the time it took. None: an error for the scenario; some: a shortfall
 * it records and carries on with.
 */
export function judgeSetup(o: { expected: number; ok: number; tookMs: number; deadlineMs?: number; errors?: Record<string, number>; noun?: string; verb?: string }): SetupOutcome {
  const noun = o.noun ?? 'sockets';
  const verb = o.verb ?? 'connected';
  const missing = Math.max(0, o.expected - o.ok);
  const out: SetupOutcome = { expected: o.expected, ok: o.ok, missing };
  if (o.expected <= 0 || missing === 0) return out;
  const cut = o.deadlineMs !== undefined && o.tookMs >= o.deadlineMs ? ` (the deadline of ${secs(o.deadlineMs)} s ran out)` : '';
  const why = topErrors(o.errors);
  if (o.ok <= 0) out.error = `0 of ${o.expected} ${noun} ${verb} within ${secs(o.tookMs)} s${cut}; the stack is not accepting connections${why ? ` (${why})` : ''}`;
  else out.shortfall = `${o.ok} of ${o.expected} ${noun} ${verb} within ${secs(o.tookMs)} s${cut}, ${missing} failed${why ? ` (${why})` : ''}`;
  return out;
}
