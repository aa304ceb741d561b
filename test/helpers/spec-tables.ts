/**
 * Reference walks over v1 host page tables, one bigint entry at a time through the
 * spec decoder (test/helpers/spec.ts), with no code from src/iommu: the table pages
 * reachable from roots (with the level each is first reached at), every leaf, and
 * which domains reach a page as a table of a level. src/iommu/table-pages.ts and
 * the incremental LiveTables / domain index are compared against these.
 */
import { PAGE_BYTES, type HostMemory } from '../../src/memory/host-memory.js';
import { specEntries, specPte } from './spec.js';

export interface RefRoot {
  root: number;
  mode: number;
}

/** Every table page reachable from the roots, pfn -> level, in depth-first (stack) order. */
export function referenceTablePages(memory: HostMemory, roots: Iterable<RefRoot>, cBit: number | null): Map<number, number> {
  const pages = new Map<number, number>();
  const stack: Array<[number, number]> = [];
  for (const { root, mode } of roots) if (mode >= 1 && mode <= 6) stack.push([root, mode]);
  while (stack.length > 0) {
    const [tableSpa, level] = stack.pop() as [number, number];
    const pfn = Math.floor(tableSpa / PAGE_BYTES);
    if (pages.has(pfn) || !memory.contains(tableSpa, PAGE_BYTES)) continue;
    pages.set(pfn, level);
    if (level === 1 || !memory.isPageBacked(pfn)) continue;
    for (let i = 0; i < specEntries(level); i++) {
      const e = specPte(memory.word(tableSpa + i * 8), level, cBit);
      if (e.present && !e.leaf && e.nextLevel < level) stack.push([e.table as number, e.nextLevel]);
    }
  }
  return pages;
}

export interface RefLeaf {
  iova: bigint;
  level: number;
  entrySpa: number;
  pa: number;
  sizeLg2: number;
  read: boolean;
  write: boolean;
}

/** Every present leaf under `root` in IOVA order (an NL=7 page once, at its aligned slot), permissions ANDed down. */
export function referenceLeaves(memory: HostMemory, root: number, mode: number, cBit: number | null): RefLeaf[] {
  const out: RefLeaf[] = [];
  if (mode < 1 || mode > 6) return out;
  const walk = (tableSpa: number, level: number, iovaBase: bigint, read: boolean, write: boolean): void => {
    if (!memory.contains(tableSpa, PAGE_BYTES) || !memory.isPageBacked(Math.floor(tableSpa / PAGE_BYTES))) return;
    const span = BigInt(12 + 9 * (level - 1));
    for (let i = 0; i < specEntries(level); i++) {
      const entrySpa = tableSpa + i * 8;
      const e = specPte(memory.word(entrySpa), level, cBit);
      if (!e.present) continue;
      const iova = iovaBase + (BigInt(i) << span);
      const r = read && e.read;
      const w = write && e.write;
      if (e.leaf) {
        const sizeLg2 = e.sizeLg2 as number;
        if ((iova & ((1n << BigInt(sizeLg2)) - 1n)) !== 0n) continue;
        out.push({ iova, level, entrySpa, pa: e.pa as number, sizeLg2, read: r, write: w });
      } else if (e.nextLevel === level - 1) {
        walk(e.table as number, level - 1, iova, r, w);
      }
    }
  };
  walk(root, mode, 0n, true, true);
  return out;
}

export interface RefDomainRoot extends RefRoot {
  domainId: number;
}

/** Each way a domain's tables reach page `pfn` as a table of `level`: its domain and the IOVA of its entry 0. */
export function referenceTableReaches(memory: HostMemory, domains: Iterable<RefDomainRoot>, cBit: number | null, pfn: number, level: number): Array<{ domainId: number; iovaBase: bigint }> {
  const out: Array<{ domainId: number; iovaBase: bigint }> = [];
  for (const d of domains) {
    if (d.mode < level || d.mode > 6) continue;
    const stack: Array<{ spa: number; level: number; iova: bigint }> = [{ spa: d.root, level: d.mode, iova: 0n }];
    const seen = new Set<number>();
    while (stack.length > 0) {
      const t = stack.pop() as { spa: number; level: number; iova: bigint };
      const tpfn = Math.floor(t.spa / PAGE_BYTES);
      if (t.level === level) {
        if (tpfn === pfn) out.push({ domainId: d.domainId, iovaBase: t.iova });
        continue;
      }
      if (seen.has(tpfn) || !memory.contains(t.spa, PAGE_BYTES) || !memory.isPageBacked(tpfn)) continue;
      seen.add(tpfn);
      const span = BigInt(12 + 9 * (t.level - 1));
      for (let i = 0; i < specEntries(t.level); i++) {
        const e = specPte(memory.word(tpfn * PAGE_BYTES + i * 8), t.level, cBit);
        // A pointer that skips levels: the IOVA bits of the skipped levels are 0.
        if (!e.present || e.leaf || e.nextLevel >= t.level || e.nextLevel < level) continue;
        stack.push({ spa: e.table as number, level: e.nextLevel, iova: t.iova + (BigInt(i) << span) });
      }
    }
  }
  return out;
}
