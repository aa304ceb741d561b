/**
 * The set of live page-table pages: every table reachable from a valid DTE root
 * (DESIGN.md smash check 2 refuses a `tableSpa` that is one; the audit wants each
 * of them hypervisor-owned in the RMP). Reads entries through pte.ts only.
 */
import type { HostMemory } from '../memory/host-memory.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import { decodePte, ENTRIES_PER_TABLE, MAX_LEVEL } from './pte.js';

export interface TableRoot {
  root: number;
  mode: number;
}

/** Page numbers (SPA >> 12) of every table reachable from the roots, with their level. */
export function collectTablePages(memory: HostMemory, roots: Iterable<TableRoot>, cBit: number | null): Map<number, number> {
  const pages = new Map<number, number>();
  const stack: Array<[number, number]> = [];
  for (const { root, mode } of roots) {
    if (mode < 1 || mode > MAX_LEVEL) continue;
    stack.push([root, mode]);
  }
  while (stack.length > 0) {
    const [tableSpa, level] = stack.pop() as [number, number];
    const pfn = Math.floor(tableSpa / PAGE_BYTES);
    if (pages.has(pfn) || !memory.contains(tableSpa, PAGE_BYTES)) continue;
    pages.set(pfn, level);
    // Untouched memory is all zero: no entry in it points anywhere.
    if (level === 1 || !memory.isPageBacked(pfn)) continue;
    const n = level === MAX_LEVEL ? 128 : ENTRIES_PER_TABLE;
    for (let i = 0; i < n; i++) {
      const value = memory.word(tableSpa + i * 8);
      if ((value & 1n) === 0n) continue;
      const e = decodePte(value, level, cBit);
      if (!e.leaf && e.table !== undefined && e.nextLevel >= 1 && e.nextLevel < level) stack.push([e.table, e.nextLevel]);
    }
  }
  return pages;
}

export interface VisitedLeaf {
  iova: bigint;
  level: number;
  entrySpa: number;
  pa: number;
  sizeLg2: number;
  /** Permissions ANDed along the walk (table pointers, then the leaf). */
  read: boolean;
  write: boolean;
}

/**
 * Visits every present leaf reachable from `root` once (an NL=7 page written into
 * several slots is visited at its first slot only). Used by the audit.
 */
export function forEachLeaf(memory: HostMemory, root: number, mode: number, cBit: number | null, visit: (leaf: VisitedLeaf) => void): void {
  if (mode < 1 || mode > MAX_LEVEL) return;
  const walk = (tableSpa: number, level: number, iovaBase: bigint, read: boolean, write: boolean): void => {
    if (!memory.contains(tableSpa, PAGE_BYTES) || !memory.isPageBacked(Math.floor(tableSpa / PAGE_BYTES))) return;
    const n = level === MAX_LEVEL ? 128 : ENTRIES_PER_TABLE;
    const span = BigInt(12 + 9 * (level - 1));
    for (let i = 0; i < n; i++) {
      const entrySpa = tableSpa + i * 8;
      const value = memory.word(entrySpa);
      if ((value & 1n) === 0n) continue;
      const e = decodePte(value, level, cBit);
      const iova = iovaBase + (BigInt(i) << span);
      const r = read && e.read;
      const w = write && e.write;
      if (e.leaf) {
        const sizeLg2 = e.sizeLg2 ?? 12;
        // NL=7 replicas: only the slot at the page's aligned start is the page.
        if ((iova & ((1n << BigInt(sizeLg2)) - 1n)) !== 0n) continue;
        visit({ iova, level, entrySpa, pa: e.pa ?? 0, sizeLg2, read: r, write: w });
      } else if (e.table !== undefined && e.nextLevel === level - 1) {
        walk(e.table, level - 1, iova, r, w);
      }
    }
  };
  walk(root, mode, 0n, true, true);
}
