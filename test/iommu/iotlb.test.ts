import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { describe, expect, it } from 'vitest';
import type { IotlbEntry } from '../../src/iommu/iotlb.js';
import { Iotlb, iotlbSpaPfn } from '../../src/iommu/iotlb.js';

function entry(domainId: number, iovaPfn: number, leafSizeLg2 = 12, leafSpaBasePfn = 0x80000): IotlbEntry {
  const pages = 2 ** (leafSizeLg2 - 12);
  return { domainId, iovaPfn, leafIovaBasePfn: Math.floor(iovaPfn / pages) * pages, leafSizeLg2, leafSpaBasePfn, read: true, write: true, levelsRead: 3 };
}

describe('Iotlb', () => {
  it('misses when empty, hits after insert, per domain', () => {
    const t = new Iotlb();
    expect(t.lookup(1, 5)).toBeUndefined();
    t.insert(entry(1, 5));
    expect(t.lookup(1, 5)).toMatchObject({ iovaPfn: 5 });
    expect(t.lookup(2, 5)).toBeUndefined();
    expect(t.size).toBe(1);
    t.insert(entry(1, 5));
    expect(t.size).toBe(1);
  });

  it('gives the page SPA from the leaf base', () => {
    const e = entry(1, 0x40123, 21, 0x80000);
    expect(iotlbSpaPfn(e)).toBe(0x80000 + 0x123);
  });

  it('drops every entry whose leaf overlaps an invalidated range, not only the pages inside it', () => {
    const t = new Iotlb();
    // Two pages cached from one 2 MB leaf at IOVA 0x40000000, one from the next 2 MB leaf.
    t.insert(entry(1, 0x40000, 21));
    t.insert(entry(1, 0x401ff, 21));
    t.insert(entry(1, 0x40200, 21));
    t.insert(entry(2, 0x40000, 21));
    // A 4 KB invalidation at the first page of the first leaf drops both of its pages.
    expect(t.invalidateRange(1, 0x40000000n, 12)).toBe(2);
    expect(t.lookup(1, 0x401ff)).toBeUndefined();
    expect(t.lookup(1, 0x40200)).toEqual(entry(1, 0x40200, 21));
    expect(t.lookup(2, 0x40000)).toEqual(entry(2, 0x40000, 21));
    expect(t.size).toBe(2);
  });

  it('keeps counting a domain after its last entry was dropped: a later invalidation still finds its new entries', () => {
    const t = new Iotlb();
    t.insert(entry(1, 0x10));
    expect(t.invalidateRange(1, 0x10000n, 12)).toBe(1);
    // The same domain fills again (its per-domain record was dropped with its last entry).
    t.insert(entry(1, 0x20, 21));
    t.insert(entry(1, 0x21, 21));
    expect(t.invalidateRange(1, 0x20000n, 12)).toBe(2);
    expect(t.lookup(1, 0x21)).toBeUndefined();
    t.insert(entry(1, 0x30));
    expect(t.invalidateDomain(1)).toBe(1);
    expect(t.size).toBe(0);
  });

  it('aligns the invalidated base down to its size', () => {
    const t = new Iotlb();
    t.insert(entry(1, 0x40000));
    t.insert(entry(1, 0x40003));
    t.insert(entry(1, 0x40004));
    expect(t.invalidateRange(1, 0x40002000n, 14)).toBe(2);
    expect(t.entries().map((e) => e.iovaPfn)).toEqual([0x40004]);
  });

  it('drops a 1 GB leaf cached far from a small invalidated range inside it', () => {
    const t = new Iotlb();
    t.insert(entry(3, 0x3ffff, 30)); // last page of the 1 GB leaf at 0
    t.insert(entry(3, 0x40000, 12));
    expect(t.invalidateRange(3, 0x1000n, 12)).toBe(1);
    expect(t.lookup(3, 0x3ffff)).toBeUndefined();
    expect(t.lookup(3, 0x40000)).toEqual(entry(3, 0x40000, 12));
  });

  it('agrees with a brute-force overlap check whichever way it scans', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ pfn: fc.integer({ min: 0, max: 4096 }), lg2: fc.constantFrom(12, 13, 14, 21) }), { maxLength: 60 }),
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 12, max: 24 }),
        (cached, basePfn, sizeLg2) => {
          const t = new Iotlb();
          for (const c of cached) t.insert(entry(1, c.pfn, c.lg2));
          const all = t.entries();
          const pages = 2 ** (sizeLg2 - 12);
          const lo = Math.floor(basePfn / pages) * pages;
          const expected = all.filter((e) => !(e.leafIovaBasePfn < lo + pages && e.leafIovaBasePfn + 2 ** (e.leafSizeLg2 - 12) > lo));
          t.invalidateRange(1, BigInt(basePfn) << 12n, sizeLg2);
          expect(t.entries()).toEqual(expected);
          expect(t.size).toBe(expected.length);
        },
      ),
    );
  });

  it('invalidates a domain and everything', () => {
    const t = new Iotlb();
    t.insert(entry(1, 1));
    t.insert(entry(1, 2));
    t.insert(entry(2, 1));
    expect(t.invalidateDomain(1)).toBe(2);
    expect(t.size).toBe(1);
    expect(t.invalidateRange(1, 0n, 64)).toBe(0);
    expect(t.invalidateAll()).toBe(1);
    expect(t.size).toBe(0);
  });

  it('saves and restores its entries exactly through JSON', () => {
    const t = new Iotlb();
    t.insert(entry(2, 9, 21, 0x100));
    t.insert({ ...entry(1, 7), read: true, write: false, levelsRead: 2 });
    const json = JSON.stringify(t.getState());
    const u = new Iotlb();
    u.insert(entry(5, 5));
    u.setState(JSON.parse(json));
    expect(u.entries()).toEqual(t.entries());
    expect(u.size).toBe(2);
    expect(u.entries()[0]).toMatchObject({ domainId: 1, write: false });
  });

  it('is bounded: a small IOTLB keeps at most its capacity, evicting within a set', () => {
    const t = new Iotlb(64);
    for (let pfn = 0; pfn < 1000; pfn++) t.insert(entry(1, pfn * 7));
    expect(t.size).toBe(64);
    expect(t.evictions).toBe(1000 - 64);
    const cached = t.entries();
    expect(cached).toHaveLength(64);
    for (const e of cached) expect(t.lookup(1, e.iovaPfn)).toEqual(e);
  });

  it('rejects a capacity that is not a power of two in range', () => {
    expect(() => new Iotlb(100)).toThrow(/iotlbEntries must be a power of two/);
    expect(() => new Iotlb(4)).toThrow(/iotlbEntries/);
  });

  it('evicts by content: an IOTLB rebuilt from its state evicts exactly as the original', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ d: fc.integer({ min: 0, max: 3 }), pfn: fc.integer({ min: 0, max: 2 ** 40 }) }), { maxLength: 200 }),
        fc.array(fc.record({ d: fc.integer({ min: 0, max: 3 }), pfn: fc.integer({ min: 0, max: 2 ** 40 }) }), { maxLength: 200 }),
        (first, then) => {
          const a = new Iotlb(16);
          for (const x of first) a.insert(entry(x.d, x.pfn));
          const b = new Iotlb(16);
          b.setState(JSON.parse(JSON.stringify(a.getState())) as ReturnType<Iotlb['getState']>);
          for (const x of then) {
            a.insert(entry(x.d, x.pfn));
            b.insert(entry(x.d, x.pfn));
          }
          expect(b.entries()).toEqual(a.entries());
        },
      ),
      { numRuns: runs(200) },
    );
  });

  it('probe agrees with lookup and fills the hit fields', () => {
    const t = new Iotlb();
    t.insert({ ...entry(4, 0x40123, 21, 0x80000), write: false });
    expect(t.probe(4, 0x40123)).toBe(true);
    expect([t.hitLeafIovaBasePfn, t.hitLeafSizeLg2, t.hitLeafSpaBasePfn, t.hitRead, t.hitWrite]).toEqual([0x40000, 21, 0x80000, true, false]);
    expect(t.probe(4, 0x40124)).toBe(false);
    expect(t.probe(5, 0x40123)).toBe(false);
  });
});
