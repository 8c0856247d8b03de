// One clock for every process on this machine: wall time with sub-millisecond
// resolution (timeOrigin + the monotonic clock), so a timestamp written by one
// worker and read by another measures a real interval.
export const nowMs = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
