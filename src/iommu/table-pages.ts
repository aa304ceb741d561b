/**
 * The set of live page-table pages: every table reachable from a valid DTE root
 * (PSMASH_IO check 5 refuses a `smash_hpte_paddr` that is one, protocol/README.md
 * §4.3.5; the audit wants each of them hypervisor-owned in the RMP, §12), and every
 * leaf under a root (the audit). Reads entries through pte.ts only.
 *
 * Both loops run on every smash and over ~1,000 tables of a 1 TiB guest, so they
 * read each table through one Uint32Array view (HostMemory.pageHalves) and decode
 * entries as 32-bit halves: no bigint, no object per entry (ARCHITECTURE.md, "Value
 * conventions inside the domain").
 */
import type { HostMemory } from '../memory/host-memory.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import {
  addrMaskHi,
  addrMaskLo,
  ENTRIES_PER_TABLE,
  levelDefaultSizeLg2,
  MAX_LEVEL,
  NL_DEFAULT_LEAF,
  NL_SIZED_LEAF,
  pteAddressMasked,
  pteLeafPaMasked,
  pteLeafSizeLg2Halves,
  pteNextLevelLo,
  ptePresentLo,
  pteReadHi,
  pteWriteHi,
} from './pte.js';

export interface TableRoot {
  root: number;
  mode: number;
}

/** Entries a table of `level` uses: 128 at level 6 (bits 63:57), else 512 (hardware.md §3.2). */
function entriesAt(level: number): number {
  return level === MAX_LEVEL ? 128 : ENTRIES_PER_TABLE;
}

/** Page numbers (SPA >> 12) of every table reachable from the roots, with their level. */
export function collectTablePages(memory: HostMemory, roots: Iterable<TableRoot>, cBit: number | null): Map<number, number> {
  const pages = new Map<number, number>();
  visitTablePages(memory, roots, cBit, pages, -1);
  return pages;
}

/**
 * The level collectTablePages would record for page `pfn`, or undefined when it is
 * not a live table: the same walk, stopped at the page (smash check 2).
 */
export function liveTableLevel(memory: HostMemory, roots: Iterable<TableRoot>, cBit: number | null, pfn: number): number | undefined {
  const pages = new Map<number, number>();
  visitTablePages(memory, roots, cBit, pages, pfn);
  return pages.get(pfn);
}

/** Fills `pages` depth-first from the roots; stops once `stopPfn` is recorded. */
function visitTablePages(memory: HostMemory, roots: Iterable<TableRoot>, cBit: number | null, pages: Map<number, number>, stopPfn: number): void {
  const maskLo = addrMaskLo(cBit);
  const maskHi = addrMaskHi(cBit);
  // A stack of (table SPA, level) in two arrays. The order decides the level kept
  // for a page reachable at two levels: the first popped, as it always was.
  const spas: number[] = [];
  const levels: number[] = [];
  for (const { root, mode } of roots) {
    if (mode < 1 || mode > MAX_LEVEL) continue;
    spas.push(root);
    levels.push(mode);
  }
  while (spas.length > 0) {
    const tableSpa = spas.pop() as number;
    const level = levels.pop() as number;
    const pfn = Math.floor(tableSpa / PAGE_BYTES);
    if (pages.has(pfn) || !memory.contains(tableSpa, PAGE_BYTES)) continue;
    pages.set(pfn, level);
    if (pfn === stopPfn) return;
    if (level === 1) continue;
    const n = entriesAt(level);
    const view = tableSpa % PAGE_BYTES === 0 ? memory.pageHalves(pfn) : undefined;
    // Untouched memory is all zero: no entry in it points anywhere.
    if (view === undefined && !memory.isPageBacked(pfn)) continue;
    for (let i = 0; i < n; i++) {
      // Table SPAs are 4 KB aligned (address bits 51:12, DTE root 51:12); the
      // per-word reads only serve a misaligned root a caller might pass.
      const lo = view !== undefined ? (view[2 * i] as number) : memory.wordLo(tableSpa + i * 8);
      if (!ptePresentLo(lo)) continue;
      const nextLevel = pteNextLevelLo(lo);
      if (nextLevel === NL_DEFAULT_LEAF || nextLevel === NL_SIZED_LEAF || nextLevel >= level) continue;
      const hi = view !== undefined ? (view[2 * i + 1] as number) : memory.wordHi(tableSpa + i * 8);
      spas.push(pteAddressMasked(lo, hi, maskLo, maskHi));
      levels.push(nextLevel);
    }
  }
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
 * forEachLeaf's visitor without an object per leaf. `iova` is a number and exact:
 * a 4 KB-aligned IOVA below 2^64 has at most 52 significant bits (63:12), which a
 * double holds, so BigInt(iova) gives the IOVA back bit for bit.
 */
export type LeafVisitor = (iova: number, level: number, entrySpa: number, pa: number, sizeLg2: number, read: boolean, write: boolean) => void;

/**
 * Visits every present leaf reachable from `root` once (an NL=7 page written into
 * several slots is visited at its first slot only), in IOVA order. The audit's loop.
 */
export function forEachLeafNumbers(memory: HostMemory, root: number, mode: number, cBit: number | null, visit: LeafVisitor): void {
  if (mode < 1 || mode > MAX_LEVEL) return;
  const maskLo = addrMaskLo(cBit);
  const maskHi = addrMaskHi(cBit);
  const walk = (tableSpa: number, level: number, iovaBase: number, read: boolean, write: boolean): void => {
    if (!memory.contains(tableSpa, PAGE_BYTES)) return;
    const aligned = tableSpa % PAGE_BYTES === 0;
    const view = aligned ? memory.pageHalves(tableSpa / PAGE_BYTES) : undefined;
    if (view === undefined && (aligned || !memory.isPageBacked(Math.floor(tableSpa / PAGE_BYTES)))) return;
    const n = entriesAt(level);
    const entryIova = 2 ** levelDefaultSizeLg2(level);
    for (let i = 0; i < n; i++) {
      const entrySpa = tableSpa + i * 8;
      const lo = view !== undefined ? (view[2 * i] as number) : memory.wordLo(entrySpa);
      if (!ptePresentLo(lo)) continue;
      const hi = view !== undefined ? (view[2 * i + 1] as number) : memory.wordHi(entrySpa);
      // Exact: distinct bits 63:12 (see LeafVisitor).
      const iova = iovaBase + i * entryIova;
      const r = read && pteReadHi(hi);
      const w = write && pteWriteHi(hi);
      const sizeLg2 = pteLeafSizeLg2Halves(lo, hi, level, maskLo, maskHi);
      if (sizeLg2 !== 0) {
        // NL=7 replicas: only the slot at the page's aligned start is the page.
        if (iova % 2 ** sizeLg2 !== 0) continue;
        // decodePte's `pa`: NL=0 keeps the address as written, NL=7 clears the size ones.
        const pa = pteNextLevelLo(lo) === NL_SIZED_LEAF ? pteLeafPaMasked(lo, hi, sizeLg2, maskLo, maskHi) : pteAddressMasked(lo, hi, maskLo, maskHi);
        visit(iova, level, entrySpa, pa, sizeLg2, r, w);
      } else if (pteNextLevelLo(lo) === level - 1) {
        walk(pteAddressMasked(lo, hi, maskLo, maskHi), level - 1, iova, r, w);
      }
    }
  };
  walk(root, mode, 0, true, true);
}

/** forEachLeafNumbers with one VisitedLeaf (and its bigint IOVA) per leaf. */
export function forEachLeaf(memory: HostMemory, root: number, mode: number, cBit: number | null, visit: (leaf: VisitedLeaf) => void): void {
  forEachLeafNumbers(memory, root, mode, cBit, (iova, level, entrySpa, pa, sizeLg2, read, write) => visit({ iova: BigInt(iova), level, entrySpa, pa, sizeLg2, read, write }));
}

export interface DomainRoot extends TableRoot {
  domainId: number;
}

/** One way a domain's tables reach a table page: the IOVA its entry 0 translates. */
export interface TableReach {
  readonly domainId: number;
  readonly iovaBase: bigint;
}

/**
 * Every domain whose tables reach page `pfn` as a table of `level`, with the IOVA
 * of that table's entry 0 (the smash engine: which domains a level-2 entry serves,
 * so it stalls them and drops their cached translations). Descends only down to
 * `level`: the tables below it are never read.
 */
export function tableReaches(memory: HostMemory, domains: Iterable<DomainRoot>, cBit: number | null, pfn: number, level: number): TableReach[] {
  const maskLo = addrMaskLo(cBit);
  const maskHi = addrMaskHi(cBit);
  const out: TableReach[] = [];
  for (const d of domains) {
    if (d.mode < level || d.mode > MAX_LEVEL) continue;
    const stack: Array<{ spa: number; level: number; iova: bigint }> = [{ spa: d.root, level: d.mode, iova: 0n }];
    const seen = new Set<number>();
    while (stack.length > 0) {
      const t = stack.pop() as { spa: number; level: number; iova: bigint };
      const tpfn = Math.floor(t.spa / PAGE_BYTES);
      if (t.level === level) {
        if (tpfn === pfn) out.push({ domainId: d.domainId, iovaBase: t.iova });
        continue;
      }
      if (seen.has(tpfn) || !memory.contains(t.spa, PAGE_BYTES)) continue;
      seen.add(tpfn);
      const view = memory.pageHalves(tpfn);
      if (view === undefined) continue;
      const n = entriesAt(t.level);
      const span = BigInt(levelDefaultSizeLg2(t.level));
      for (let i = 0; i < n; i++) {
        const lo = view[2 * i] as number;
        if (!ptePresentLo(lo)) continue;
        const nextLevel = pteNextLevelLo(lo);
        if (nextLevel === NL_DEFAULT_LEAF || nextLevel === NL_SIZED_LEAF || nextLevel >= t.level || nextLevel < level) continue;
        const hi = view[2 * i + 1] as number;
        // A pointer that skips levels: the IOVA bits of the skipped levels are 0.
        stack.push({ spa: pteAddressMasked(lo, hi, maskLo, maskHi), level: nextLevel, iova: t.iova + (BigInt(i) << span) });
      }
    }
  }
  return out;
}
