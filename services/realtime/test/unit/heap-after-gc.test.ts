import v8 from 'node:v8';
import vm from 'node:vm';
import { observeHeapAfterFullGc } from '../../src/infra/heap-after-gc';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

describe('heap after a full GC', () => {
  it('is unknown before the first full collection, then the live heap without the garbage', async () => {
    const heap = observeHeapAfterFullGc();
    expect(heap.bytes()).toBeUndefined();
    // 50 MB of garbage, then 20 MB still held.
    let garbage: number[][] | undefined = Array.from({ length: 50 }, () => new Array<number>(131_072).fill(1.5));
    const held = Array.from({ length: 20 }, () => new Array<number>(131_072).fill(2.5));
    const usedWithGarbage = process.memoryUsage().heapUsed;
    garbage = undefined;
    gc();
    // The observer is told after the collection, on a later turn of the loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const live = heap.bytes();
    expect(live).toBeDefined();
    expect(live!).toBeGreaterThan(held.length * 1_000_000);
    expect(usedWithGarbage - live!).toBeGreaterThan(40_000_000);
    expect(garbage).toBeUndefined();
  });
});
