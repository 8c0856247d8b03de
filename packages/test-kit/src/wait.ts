export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Probe<T> = () => Promise<T | null | undefined | false> | T | null | undefined | false;

/**
 * Polls `probe` until it returns a truthy value, which it returns. A probe
 * that throws counts as "not yet"; on timeout the error names `what` and the
 * last error or value, which is usually the reason.
 */
export async function waitFor<T>(what: string, probe: Probe<T>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await probe();
      if (last) return last as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? `: ${last.message}` : ` (last: ${String(last)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}
