/**
 * The page pool (protocol/README.md §7, `mem.alloc`): hands out zeroed, contiguous
 * runs of 4 KB pages from a window of host memory reserved for the host's own
 * structures (page tables, the device table, smash tables), and takes them back.
 * First-fit over a sorted free list, then a bump pointer.
 */
import type { HostMemory } from './host-memory.js';
import { PAGE_BYTES } from './host-memory.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { DeadEntries } from '../util/dead-entries.js';
import { toHex } from '../util/hex.js';

export interface PagePoolState {
  baseSpa: number;
  endSpa: number;
  nextSpa: number;
  /** Free runs [spa, pages], sorted by spa. */
  free: Array<[number, number]>;
  /** Allocated runs [spa, pages]. */
  allocated: Array<[number, number]>;
}

export class PagePool {
  readonly baseSpa: number;
  readonly endSpa: number;
  private nextSpa: number;
  private free: Array<[number, number]> = [];
  /** spa -> pages of each allocation still held. */
  /**
   * Allocation start -> pages; 0 once released. A release keeps its key (dead-entries.ts:
   * deleting and re-adding keys of a Map with ~1,000 entries, a 1 TiB guest's table
   * pages, made V8 rehash it at 4 us per command page of a smash).
   */
  private readonly allocated = new Map<number, number>();
  private readonly released = new DeadEntries<number, number>(isReleased);

  constructor(
    private readonly memory: HostMemory,
    baseSpa: number,
    endSpa: number,
  ) {
    if (baseSpa % PAGE_BYTES !== 0 || endSpa % PAGE_BYTES !== 0 || endSpa <= baseSpa || endSpa > memory.sizeBytes) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `page pool window ${toHex(baseSpa)}..${toHex(endSpa)} is not a valid 4 KB-aligned range of memory`);
    }
    this.baseSpa = baseSpa;
    this.endSpa = endSpa;
    this.nextSpa = baseSpa;
  }

  /** Allocates `pages` contiguous zeroed pages, aligned to `alignBytes` (default 4 KB). */
  alloc(pages: number, alignBytes: number = PAGE_BYTES): number {
    if (!Number.isSafeInteger(pages) || pages < 1) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `pages must be a positive integer, got ${pages}`);
    }
    const bytes = pages * PAGE_BYTES;
    for (let i = 0; i < this.free.length; i++) {
      const [spa, n] = this.free[i] as [number, number];
      const start = alignUp(spa, alignBytes);
      const head = (start - spa) / PAGE_BYTES;
      if (head + pages > n) continue;
      const tail = n - head - pages;
      const replacement: Array<[number, number]> = [];
      if (head > 0) replacement.push([spa, head]);
      if (tail > 0) replacement.push([start + bytes, tail]);
      this.free.splice(i, 1, ...replacement);
      return this.take(start, pages);
    }
    const start = alignUp(this.nextSpa, alignBytes);
    if (start + bytes > this.endSpa) {
      throw new EmuError(ERROR_CODES.OUT_OF_MEMORY, `page pool exhausted: ${pages} page(s) requested, ${Math.max(0, (this.endSpa - start) / PAGE_BYTES)} left`);
    }
    if (start > this.nextSpa) this.insertFree(this.nextSpa, (start - this.nextSpa) / PAGE_BYTES);
    this.nextSpa = start + bytes;
    return this.take(start, pages);
  }

  /**
   * Returns an allocation made by `alloc` (the same spa and page count). `scrub`
   * (default) zeroes it now; false leaves its contents readable until the pool hands
   * the page out again (alloc zeroes then), as a driver's freed page keeps them.
   */
  release(spa: number, pages: number, scrub = true): void {
    const held = this.allocated.get(spa);
    if (held === undefined || held === 0) {
      throw new EmuError(ERROR_CODES.NOT_FOUND, `spa ${toHex(spa)} is not the start of a pool allocation`, { spa });
    }
    if (held !== pages) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `allocation at ${toHex(spa)} has ${held} page(s), not ${pages}`, { spa });
    }
    this.allocated.set(spa, 0);
    this.released.died(this.allocated);
    if (scrub) this.memory.zeroPages(spa, pages);
    this.insertFree(spa, pages);
  }

  isAllocated(spa: number): boolean {
    return (this.allocated.get(spa) ?? 0) > 0;
  }

  /** Whether [spa, spa+4K) lies inside the pool window. */
  owns(spa: number): boolean {
    return spa >= this.baseSpa && spa < this.endSpa;
  }

  allocatedPages(): number {
    let n = 0;
    for (const pages of this.allocated.values()) n += pages;
    return n;
  }

  getState(): PagePoolState {
    return {
      baseSpa: this.baseSpa,
      endSpa: this.endSpa,
      nextSpa: this.nextSpa,
      free: this.free.map(([s, n]) => [s, n] as [number, number]),
      allocated: [...this.allocated.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]),
    };
  }

  /** Restores a dumped pool; runs outside the window or malformed throw BAD_DOCUMENT and change nothing. */
  setState(state: PagePoolState): void {
    const bad = (why: string) => new EmuError(ERROR_CODES.BAD_DOCUMENT, `page pool: ${why}`);
    if (typeof state !== 'object' || state === null) throw bad('must be an object');
    if (state.baseSpa !== this.baseSpa || state.endSpa !== this.endSpa) {
      throw new EmuError(ERROR_CODES.BAD_DOCUMENT, 'page pool window differs from this platform');
    }
    const inWindow = (spa: unknown) => Number.isSafeInteger(spa) && (spa as number) % PAGE_BYTES === 0 && (spa as number) >= this.baseSpa && (spa as number) <= this.endSpa;
    if (!inWindow(state.nextSpa)) throw bad('nextSpa must be a 4 KB-aligned address inside the pool window');
    for (const key of ['free', 'allocated'] as const) {
      const runs: unknown = state[key];
      if (!Array.isArray(runs)) throw bad(`${key} must be an array of [spa, pages]`);
      for (const run of runs as unknown[]) {
        const ok = Array.isArray(run) && run.length === 2 && inWindow(run[0]) && Number.isSafeInteger(run[1]) && (run[1] as number) >= 1 && (run[0] as number) + (run[1] as number) * PAGE_BYTES <= this.endSpa;
        if (!ok) throw bad(`${key} holds ${JSON.stringify(run)?.slice(0, 80)}: each run must be [spa, pages] with pages >= 1 inside the pool window`);
      }
    }
    this.nextSpa = state.nextSpa;
    this.free = state.free.map(([s, n]) => [s, n] as [number, number]);
    this.allocated.clear();
    for (const [s, n] of state.allocated) this.allocated.set(s, n);
  }

  private take(spa: number, pages: number): number {
    this.memory.zeroPages(spa, pages);
    this.allocated.set(spa, pages);
    return spa;
  }

  private insertFree(spa: number, pages: number): void {
    let i = 0;
    while (i < this.free.length && (this.free[i] as [number, number])[0] < spa) i++;
    this.free.splice(i, 0, [spa, pages]);
    // Merge neighbours so runs stay maximal.
    const merged: Array<[number, number]> = [];
    for (const run of this.free) {
      const last = merged[merged.length - 1];
      if (last !== undefined && last[0] + last[1] * PAGE_BYTES === run[0]) last[1] += run[1];
      else merged.push([run[0], run[1]]);
    }
    // Give the tail run back to the bump pointer.
    const tail = merged[merged.length - 1];
    if (tail !== undefined && tail[0] + tail[1] * PAGE_BYTES === this.nextSpa) {
      this.nextSpa = tail[0];
      merged.pop();
    }
    this.free = merged;
  }
}

function isReleased(pages: number): boolean {
  return pages === 0;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}
