/** A limit: at most `limit` hits in any sliding window of `windowMs`. */
export interface Limit {
  limit: number;
  windowMs: number;
}

/** "20/10s" -> { limit: 20, windowMs: 10000 } */
export function parseLimit(spec: string): Limit {
  const m = /^(\d+)\/(\d+)(ms|s|m)$/.exec(spec.trim());
  if (!m) throw new Error(`rate limit "${spec}" must look like 20/10s (count/window with ms, s or m)`);
  const unit = { ms: 1, s: 1000, m: 60_000 }[m[3] as 'ms' | 's' | 'm'];
  const limit = Number(m[1]);
  const windowMs = Number(m[2]) * unit;
  if (limit < 1 || windowMs < 1) throw new Error(`rate limit "${spec}" needs a count and a window above 0`);
  return { limit, windowMs };
}
