import v8 from 'node:v8';
import vm from 'node:vm';
import { observeHeapAfterFullGc } from '../../src/infra/heap-after-gc';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** About `n` MB of heap: arrays of 131,072 doubles (1 MiB each). */
const megabytes = (n: number, value: number) => Array.from({ length: n }, () => new Array<number>(131_072).fill(value));

/** Used heap while `n` MB are held; they are garbage once it returns (its own frame: nothing keeps them). */
function heapUsedWhileHolding(n: number): number {
  const held = megabytes(n, 1.5);
  return held.length > 0 ? process.memoryUsage().heapUsed : 0;
}

describe('heap after a full GC', () => {
  it('is unknown before the first full collection, then the live heap without the garbage', async () => {
    const heap = observeHeapAfterFullGc();
    expect(heap.bytes()).toBeUndefined();
    // 20 MB still held, and 50 MB that is garbage once measured.
    const held = megabytes(20, 2.5);
    const usedWithGarbage = heapUsedWhileHolding(50);
    gc();
    // The observer is told after the collection, on a later turn of the loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const live = heap.bytes();
    expect(live).toBeDefined();
    expect(live!).toBeGreaterThan(held.length * 1_000_000);
    expect(usedWithGarbage - live!).toBeGreaterThan(40_000_000);
  });
});
