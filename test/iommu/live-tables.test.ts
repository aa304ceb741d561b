import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { HostMemory, PAGE_BYTES } from '../../src/memory/host-memory.js';
import { LiveTables } from '../../src/iommu/live-tables.js';
import type { TableRoot } from '../../src/iommu/table-pages.js';
// The references: bigint walks through the spec's decoder (hardware.md §3), nothing from src/iommu.
import { referenceTablePages, referenceTableReaches } from '../helpers/spec-tables.js';
import { Iommu } from '../../src/iommu/iommu.js';
import { PagePool } from '../../src/memory/page-pool.js';
import { encodeDte } from '../../src/iommu/dte.js';

const POOL_PAGES = 10;
const MEMORY_BYTES = 2 ** 30;
const pageSpa = (k: number): number => 0x1_0000 + k * PAGE_BYTES;
/** The level pool page k is meant to hold, so random pointers mostly make deep trees. */
const pageLevel = (k: number): number => (k % 5) + 1;

/** Pointers into the pool (usually at the target's own level), leaves, clears, garbage. */
const entry = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({ k: fc.integer({ min: 0, max: POOL_PAGES }), nl: fc.integer({ min: 0, max: 6 }) })
      .map(({ k, nl }) => (k === POOL_PAGES ? 2n ** 40n : BigInt(pageSpa(k))) | (BigInt(nl === 0 ? pageLevel(k) : nl) << 9n) | (3n << 61n) | 1n),
  },
  { weight: 2, arbitrary: fc.constant(0n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
);
const write = fc.record({ k: fc.integer({ min: 0, max: POOL_PAGES - 1 }), slot: fc.integer({ min: 0, max: 7 }), value: entry });
const roots = fc.array(fc.record({ k: fc.integer({ min: 0, max: POOL_PAGES - 1 }), mode: fc.integer({ min: 0, max: 7 }) }), { minLength: 0, maxLength: 3 });
const step = fc.oneof({ weight: 6, arbitrary: write.map((w) => ({ write: w })) }, { weight: 1, arbitrary: roots.map((r) => ({ roots: r })) });

/** A DTE written into the device table (through memory, word by word). */
const dteStep = (maxDevice: number) =>
  fc
    .record({ deviceId: fc.integer({ min: 0, max: maxDevice }), domainId: fc.integer({ min: 0, max: 3 }), k: fc.integer({ min: 0, max: POOL_PAGES - 1 }), mode: fc.integer({ min: 0, max: 7 }), valid: fc.boolean() })
    .map((d) => ({ dte: d }));
type IommuStep = { write: { k: number; slot: number; value: bigint } } | { dte: { deviceId: number; domainId: number; k: number; mode: number; valid: boolean } };

/** A fresh IOMMU over 64 GiB, and the function that applies one step to its memory. */
function iommuUnderTest(): { memory: HostMemory; iommu: Iommu; apply: (s: IommuStep) => void } {
  const memory = new HostMemory(64 * 2 ** 30);
  const iommu = new Iommu(memory, new PagePool(memory, 2 ** 28, 2 ** 30));
  const apply = (s: IommuStep): void => {
    if ('write' in s) memory.write64(pageSpa(s.write.k) + s.write.slot * 8, s.write.value);
    else {
      const { deviceId, domainId, k, mode, valid } = s.dte;
      // Written word by word through memory, as a client's mem.write64 would.
      const q = encodeDte({ valid, translationValid: true, mode, root: pageSpa(k), domainId, read: true, write: true });
      q.forEach((w, i) => memory.write64(iommu.deviceTable.entrySpa(deviceId) + i * 8, w));
    }
  };
  return { memory, iommu, apply };
}

describe('LiveTables', () => {
  it('answers as the full walk does after every table write and root change, on random tables', () => {
    let deepest = 0;
    fc.assert(
      fc.property(fc.array(write, { maxLength: 40 }), roots, fc.array(step, { maxLength: 60 }), (initial, rs0, steps) => {
        const m = new HostMemory(MEMORY_BYTES);
        for (const w of initial) m.write64(pageSpa(w.k) + w.slot * 8, w.value);
        const live = new LiveTables(m, 51);
        m.watch({ watches: (pfn) => live.watches(pfn), wordWritten: (pfn, i, old) => live.entryWritten(pfn, i, old), invalidated: () => (live.valid = false) });
        let rs: TableRoot[] = rs0.map((r) => ({ root: pageSpa(r.k), mode: r.mode }));
        live.rebuild(rs);
        const check = (): void => {
          if (!live.valid) live.rebuild(rs);
          const expected = referenceTablePages(m, rs, 51);
          deepest = Math.max(deepest, expected.size);
          for (let k = 0; k <= POOL_PAGES; k++) {
            const pfn = pageSpa(k) / PAGE_BYTES;
            expect(live.level(pfn)).toBe(expected.get(pfn));
          }
        };
        check();
        for (const s of steps) {
          if ('write' in s) m.write64(pageSpa(s.write.k) + s.write.slot * 8, s.write.value);
          else {
            rs = s.roots.map((r) => ({ root: pageSpa(r.k), mode: r.mode }));
            live.setRoots(rs);
          }
          check();
        }
      }),
      { numRuns: runs(300) },
    );
    expect(deepest).toBeGreaterThan(3);
  });

  it('keeps tree-shaped tables (each page at one level) up to date incrementally, without rebuilding, after every write', () => {
    // Pointers only ever to a page at its own level (or cleared): no page is reachable at
    // two levels, so LiveTables answers from its counts rather than falling back to a walk.
    const treeEntry = fc.oneof(
      { weight: 2, arbitrary: fc.integer({ min: 0, max: POOL_PAGES - 1 }).map((k) => BigInt(pageSpa(k)) | (BigInt(pageLevel(k)) << 9n) | (3n << 61n) | 1n) },
      { weight: 1, arbitrary: fc.constant(0n) },
    );
    // Two slots per page: live pointers are often overwritten. Roots at level 5 (pages 4 and 9).
    const treeWrite = fc.record({ k: fc.integer({ min: 0, max: POOL_PAGES - 1 }), slot: fc.integer({ min: 0, max: 1 }), value: treeEntry });
    const treeRoots = fc.array(
      fc.constantFrom(4, 9).map((k) => ({ root: pageSpa(k), mode: pageLevel(k) })),
      { minLength: 1, maxLength: 2 },
    );
    let incremental = 0;
    let dropped = 0;
    fc.assert(
      fc.property(treeRoots, fc.array(treeWrite, { minLength: 1, maxLength: 40, size: 'max' }), (rs, writes) => {
        const m = new HostMemory(MEMORY_BYTES);
        const live = new LiveTables(m, 51);
        m.watch({ watches: (pfn) => live.watches(pfn), wordWritten: (pfn, i, old) => live.entryWritten(pfn, i, old), invalidated: () => (live.valid = false) });
        live.rebuild(rs);
        let before = referenceTablePages(m, rs, 51);
        for (const w of writes) {
          m.write64(pageSpa(w.k) + w.slot * 8, w.value);
          const expected = referenceTablePages(m, rs, 51);
          if (live.valid) incremental++;
          else live.rebuild(rs);
          if ([...before.keys()].some((pfn) => !expected.has(pfn))) dropped++;
          for (let k = 0; k < POOL_PAGES; k++) expect(live.level(pageSpa(k) / PAGE_BYTES), `page ${k}`).toBe(expected.get(pageSpa(k) / PAGE_BYTES));
          before = expected;
        }
      }),
      { numRuns: runs(40) },
    );
    // Most answers came from the incremental state, and tables did drop out of the tree.
    expect(incremental, `${incremental} incremental answers`).toBeGreaterThan(300);
    expect(dropped, `${dropped} writes dropped tables`).toBeGreaterThan(5);
  });

  it('sees a DTE rewritten with a new mode alone, then a new root alone', () => {
    const { iommu, apply } = iommuUnderTest();
    apply({ dte: { deviceId: 7, domainId: 3, k: 2, mode: 3, valid: true } });
    expect(iommu.domains().get(3)).toEqual({ devices: [7], root: pageSpa(2), mode: 3 });
    apply({ dte: { deviceId: 7, domainId: 3, k: 2, mode: 4, valid: true } });
    expect(iommu.domains().get(3)).toEqual({ devices: [7], root: pageSpa(2), mode: 4 });
    apply({ dte: { deviceId: 7, domainId: 3, k: 5, mode: 4, valid: true } });
    expect(iommu.domains().get(3)).toEqual({ devices: [7], root: pageSpa(5), mode: 4 });
    expect([...iommu.domains()]).toEqual([...iommu.deviceTable.domains()]);
  });

  it('follows DTE writes through memory: Iommu.domains and liveTableLevel equal the full scans', () => {
    fc.assert(
      fc.property(
        // Few devices as well as many: the same DTE rewritten (a new mode alone, a new root alone).
        fc.array(
          fc.oneof(
            write.map((w): IommuStep => ({ write: w })),
            dteStep(300),
            dteStep(2),
          ),
          { maxLength: 50 },
        ),
        (steps) => {
          const { memory, iommu, apply } = iommuUnderTest();
          for (const s of steps) {
            apply(s);
            const expected = iommu.deviceTable.domains();
            expect([...iommu.domains()]).toEqual([...expected]);
            const rs = [...expected.values()].map((d) => ({ root: d.root, mode: d.mode }));
            const pages = referenceTablePages(memory, rs, 51);
            for (let k = 0; k < POOL_PAGES; k++) expect(iommu.liveTableLevel(pageSpa(k) / PAGE_BYTES)).toBe(pages.get(pageSpa(k) / PAGE_BYTES));
          }
        },
      ),
      { numRuns: runs(150) },
    );
  });

  it('Iommu.tableReaches (cached by LiveTables.shapeAbove) equals the uncached walk after every table and DTE write', () => {
    let hits = 0;
    fc.assert(
      fc.property(fc.array(fc.oneof({ weight: 4, arbitrary: write.map((w): IommuStep => ({ write: w })) }, { weight: 1, arbitrary: dteStep(4) }), { maxLength: 50 }), (steps) => {
        const { memory, iommu, apply } = iommuUnderTest();
        for (const s of steps) {
          apply(s);
          const rs = [...iommu.deviceTable.domains()].map(([domainId, d]) => ({ domainId, root: d.root, mode: d.mode }));
          for (let k = 0; k < POOL_PAGES; k++) {
            for (let level = 1; level <= 5; level++) {
              const pfn = pageSpa(k) / PAGE_BYTES;
              const want = referenceTableReaches(memory, rs, 51, pfn, level);
              // Twice: the second answer comes from the cache whenever it may.
              expect([...iommu.tableReaches(pfn, level)]).toEqual(want);
              expect([...iommu.tableReaches(pfn, level)]).toEqual(want);
              if (want.length > 0) hits++;
            }
          }
        }
      }),
      { numRuns: runs(120) },
    );
    // Some runs reach a table through a live tree (not every random table does).
    expect(hits).toBeGreaterThan(20);
  });
});
