import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { HostMemory, PAGE_BYTES } from '../../src/memory/host-memory.js';
import { collectTablePages, forEachLeaf, liveTableLevel, type VisitedLeaf } from '../../src/iommu/table-pages.js';
// The reference: bigint walks through the spec's decoder (hardware.md §3), nothing from src/iommu.
import { referenceLeaves, referenceTablePages } from '../helpers/spec-tables.js';

const POOL_PAGES = 12;
const MEMORY_BYTES = 2 ** 30;
/** Table pages live at 0x10000 + k x 4 KB; some entries point past memory on purpose. */
const pageSpa = (k: number): number => 0x1_0000 + k * PAGE_BYTES;

/** The level pool page k is meant to hold; pointers mostly agree with it, so walks go deep. */
const pageLevel = (k: number): number => (k % 6) + 1;

/** A random entry: table pointers into the pool (any NL, C-bit or not), leaves, garbage. */
const entry = fc.oneof(
  fc.record({ k: fc.integer({ min: 0, max: POOL_PAGES }), nl: fc.integer({ min: 0, max: 6 }), cbit: fc.boolean(), perm: fc.integer({ min: 0, max: 3 }) }).map(
    // nl 0 stands for "the target page's own level" (when it is not 0: a pointer).
    ({ k, nl, cbit, perm }) => (k === POOL_PAGES ? 2n ** 40n : BigInt(pageSpa(k))) | (cbit ? 1n << 51n : 0n) | (BigInt(nl === 0 ? pageLevel(k) : nl) << 9n) | (BigInt(perm) << 61n) | 1n,
  ),
  fc
    .record({ pa: fc.bigInt({ min: 0n, max: 2n ** 40n - 1n }), nl: fc.constantFrom(0n, 7n), ones: fc.integer({ min: 0, max: 30 }), cbit: fc.boolean(), perm: fc.integer({ min: 0, max: 7 }) })
    .map(({ pa, nl, ones, cbit, perm }) => ((pa << 12n) & 0x000f_ffff_ffff_f000n) | (((1n << BigInt(ones)) - 1n) << 12n) | (cbit ? 1n << 51n : 0n) | (nl << 9n) | (BigInt(perm) << 60n) | 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);

// Slots 0-7 often, so NL=7 leaves (aligned only at their first slot) are visited too.
const tables = fc.array(fc.record({ k: fc.integer({ min: 0, max: POOL_PAGES - 1 }), slot: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 511 })), value: entry }), {
  minLength: 20,
  maxLength: 120,
});
const rootSet = fc.array(
  fc.record({ k: fc.integer({ min: 0, max: POOL_PAGES - 1 }), mode: fc.integer({ min: -1, max: 7 }) }).map(({ k, mode }) => ({ k, mode: mode === -1 ? pageLevel(k) : mode })),
  { minLength: 1, maxLength: 3 },
);

function build(writes: Array<{ k: number; slot: number; value: bigint }>): HostMemory {
  const m = new HostMemory(MEMORY_BYTES);
  for (const w of writes) m.write64(pageSpa(w.k) + w.slot * 8, w.value);
  return m;
}

describe('table pages (table-pages.ts)', () => {
  it('collects the same pages, levels and order as the spec reference walk on random tables', () => {
    let deepest = 0;
    fc.assert(
      fc.property(tables, rootSet, fc.constantFrom<number | null>(51, null, 40), (writes, rs, cBit) => {
        const m = build(writes);
        const roots = rs.map((r) => ({ root: pageSpa(r.k), mode: r.mode }));
        const expected = referenceTablePages(m, roots, cBit);
        deepest = Math.max(deepest, expected.size);
        expect([...collectTablePages(m, roots, cBit)]).toEqual([...expected]);
        for (let k = 0; k <= POOL_PAGES; k++) {
          const pfn = pageSpa(k) / PAGE_BYTES;
          expect(liveTableLevel(m, roots, cBit, pfn)).toBe(expected.get(pfn));
        }
      }),
      { numRuns: runs(400) },
    );
    // The generator reaches trees, not just roots.
    expect(deepest).toBeGreaterThan(4);
  });

  it('visits the same leaves, in the same order, as the spec reference walk on random tables', () => {
    let visited = 0;
    fc.assert(
      fc.property(tables, rootSet, fc.constantFrom<number | null>(51, null, 40), (writes, rs, cBit) => {
        const m = build(writes);
        for (const { k, mode } of rs) {
          const got: VisitedLeaf[] = [];
          forEachLeaf(m, pageSpa(k), mode, cBit, (leaf) => got.push(leaf));
          expect(got).toEqual(referenceLeaves(m, pageSpa(k), mode, cBit));
          visited += got.length;
        }
      }),
      { numRuns: runs(400) },
    );
    expect(visited).toBeGreaterThan(200);
  });

  it('gives exact IOVAs above 2^53 (level-6 and level-5 slots)', () => {
    const m = new HostMemory(MEMORY_BYTES);
    // Level 6 slot 127 -> level 5 slot 511 -> level 4 slot 511 -> 1 TB NL=7 leaf... down to a 4 KB leaf.
    m.write64(pageSpa(0) + 127 * 8, BigInt(pageSpa(1)) | (5n << 9n) | (3n << 61n) | 1n);
    m.write64(pageSpa(1) + 511 * 8, BigInt(pageSpa(2)) | (4n << 9n) | (3n << 61n) | 1n);
    m.write64(pageSpa(2) + 511 * 8, BigInt(pageSpa(3)) | (3n << 9n) | (3n << 61n) | 1n);
    m.write64(pageSpa(3) + 511 * 8, BigInt(pageSpa(4)) | (2n << 9n) | (3n << 61n) | 1n);
    m.write64(pageSpa(4) + 511 * 8, BigInt(pageSpa(5)) | (1n << 9n) | (3n << 61n) | 1n);
    m.write64(pageSpa(5) + 511 * 8, 0x4000_0000n | (1n << 61n) | 1n);
    const got: VisitedLeaf[] = [];
    forEachLeaf(m, pageSpa(0), 6, 51, (leaf) => got.push(leaf));
    expect(got).toEqual(referenceLeaves(m, pageSpa(0), 6, 51));
    expect(got[0]?.iova).toBe(0xffff_ffff_ffff_f000n);
  });
});
