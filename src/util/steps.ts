/**
 * Work written once as a generator that yields between bounded chunks, run either
 * in one go (runSteps) or in slices that let the event loop turn between them
 * (runStepsSliced): the same code either way, so both give the same result. Used
 * by the state document (emu.snapshot, emu.dumpState, emu.loadState, emu.revert):
 * at a full IOTLB a dump lists 2^19 entries, too much for one turn of a server
 * that must keep answering /healthz.
 */

/** Work that yields (nothing) between chunks and returns T. */
export type Steps<T> = Generator<void, T, void>;

/** Items a step handles before it yields, in loops over large lists. */
export const STEP_ITEMS = 2048;

/** Runs `steps` to the end at once. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/**
 * Runs `steps`, awaiting `yieldFn` whenever a slice has run `sliceMs` of wall time
 * (0: after every step). A throw from the work rejects.
 */
export async function runStepsSliced<T>(steps: Steps<T>, yieldFn: () => Promise<void>, sliceMs: number): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (performance.now() - sliceStart >= sliceMs) {
      await yieldFn();
      sliceStart = performance.now();
    }
  }
}

/**
 * Sorts `items` in place by `cmp` (a bottom-up merge sort, stable), yielding after
 * every STEP_ITEMS items merged. Gives the order Array.prototype.sort gives.
 */
export function* sortSteps<T>(items: T[], cmp: (a: T, b: T) => number): Steps<T[]> {
  const n = items.length;
  let src = items;
  let dst: T[] = new Array<T>(n);
  let moved = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (k < hi) {
        // The left run's item first unless the right one is smaller: stable.
        if (i < mid && (j >= hi || cmp(src[j] as T, src[i] as T) >= 0)) dst[k++] = src[i++] as T;
        else dst[k++] = src[j++] as T;
        if (++moved === STEP_ITEMS) {
          moved = 0;
          yield;
        }
      }
    }
    [src, dst] = [dst, src];
  }
  if (src !== items) for (let k = 0; k < n; k++) items[k] = src[k] as T;
  return items;
}

/** `for (const x of items) each(x)`, yielding after every STEP_ITEMS items. */
export function* eachSteps<T>(items: Iterable<T>, each: (item: T) => void): Steps<void> {
  let k = 0;
  for (const item of items) {
    each(item);
    if (++k % STEP_ITEMS === 0) yield;
  }
}
