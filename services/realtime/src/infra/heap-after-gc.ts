import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';

/**
 * The heap in use right after the latest full (mark-compact) collection: the
 * live set. Used heap sampled at any other time also counts garbage that the
 * next full collection frees, so its slope over a minute or two is the GC's
 * sawtooth, not a leak; the load test's leak rule reads this one instead.
 * The observer only runs when V8 reports a collection (prom-client's GC
 * histogram observes the same entries).
 */
export function observeHeapAfterFullGc(): { bytes(): number | undefined } {
  let bytes: number | undefined;
  const observer = new PerformanceObserver((list) => {
    // A gc entry's detail is { kind, flags } (the types do not declare it).
    const full = list.getEntries().some((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
    if (full) bytes = v8.getHeapStatistics().used_heap_size;
  });
  observer.observe({ entryTypes: ['gc'] });
  // Not a reason to keep the process alive (a PerformanceObserver does not hold the loop open).
  return { bytes: () => bytes };
}
