import { describe, expect, it } from 'vitest';
import { decodeDte, encodeDte } from '../../src/iommu/dte.js';
import { PageWalker } from '../../src/iommu/page-walker.js';
import { encodeLeaf, encodeTablePointer, PTE_IW } from '../../src/iommu/pte.js';
import { GiB, makeHost, TableBuilder } from '../helpers/page-tables.js';

function setup(mode = 3, cBit: number | null = 51) {
  const { memory, pool } = makeHost();
  const tb = new TableBuilder(memory, pool, mode);
  const walker = new PageWalker(memory, cBit);
  return { memory, pool, tb, walker, dte: decodeDte(tb.dte(7)) };
}

describe('PageWalker', () => {
  it('walks a mode-3 table to a 4 KB leaf, listing every entry read', () => {
    const { tb, walker, dte } = setup();
    const leafSpa = tb.leaf(0x40001000n, 1, 0x80005000, 12);
    const r = walker.walk(dte, 0x40001abcn, false);
    expect(r.ok).toBe(true);
    expect(r.fault).toBeUndefined();
    expect(r.spa).toBe(0x80005abc);
    expect(r.sizeLg2).toBe(12);
    expect(r.steps.map((s) => s.level)).toEqual([3, 2, 1]);
    expect(r.steps[0]?.entrySpa).toBe(tb.root + 1 * 8);
    expect(r.steps[2]?.entrySpa).toBe(leafSpa);
    expect(r.steps[2]?.value).toBe(encodeLeaf({ pa: 0x80005000, sizeLg2: 12, level: 1, read: true, write: true, fc: false }));
    expect(r.levelsRead).toBe(3);
    expect(r.leafLevel).toBe(1);
    expect(r.leafEntrySpa).toBe(leafSpa);
    expect(r.leafSpaBase).toBe(0x80005000);
    expect(r.leafIovaBase).toBe(0x40001000n);
  });

  it('walks to a 2 MB leaf at level 2 and a 1 GB leaf at level 3', () => {
    const { tb, walker, dte } = setup();
    tb.leaf(0x40000000n, 2, 0x80000000, 21);
    tb.leaf(0x80000000n, 3, 2 * GiB, 30);
    const two = walker.walk(dte, 0x401234c8n, true);
    expect(two).toMatchObject({ ok: true, spa: 0x801234c8, sizeLg2: 21, leafLevel: 2, levelsRead: 2, leafIovaBase: 0x40000000n });
    const one = walker.walk(dte, 0xbfff_fff8n, false);
    expect(one).toMatchObject({ ok: true, spa: 2 * GiB + 0x3fff_fff8, sizeLg2: 30, leafLevel: 3, levelsRead: 1 });
  });

  it('walks NL=7 leaves through any of their replicas (hardware.md §3.3)', () => {
    const { tb, walker, dte } = setup();
    tb.leaf(0x10000n, 1, 0x80010000, 14); // 16 KB, 4 slots
    const r = walker.walk(dte, 0x12345n, false);
    expect(r).toMatchObject({ ok: true, sizeLg2: 14, spa: 0x80012345, leafIovaBase: 0x10000n, leafSpaBase: 0x80010000 });
    tb.leaf(0x40000000n, 2, 0x80000000, 22); // 4 MB, 2 slots
    expect(walker.walk(dte, 0x40300010n, false)).toMatchObject({ ok: true, sizeLg2: 22, spa: 0x80300010 });
  });

  it('faults IO_PAGE_FAULT when a level-2 entry is not present', () => {
    const { tb, walker, dte } = setup();
    tb.leaf(0x40000000n, 2, 0x80000000, 21);
    const r = walker.walk(dte, 0x40200000n, true);
    expect(r.ok).toBe(false);
    expect(r.fault).toEqual({ type: 2, typeName: 'IO_PAGE_FAULT', reason: 'not-present', present: false, permission: false });
    expect(r.leafLevel).toBe(2);
    expect(r.steps).toHaveLength(2);
  });

  it('faults not-present at the top when the root table is empty', () => {
    const { walker, dte } = setup();
    const r = walker.walk(dte, 0n, false);
    expect(r.fault?.reason).toBe('not-present');
    expect(r.steps).toHaveLength(1);
  });

  it('ANDs IR/IW along the DTE, every PDE and the leaf', () => {
    const { tb, walker, memory } = setup();
    tb.leaf(0x1000n, 1, 0x80001000, 12, true, true);
    // Read-only DTE: writes fault even though every entry has IW.
    const roDte = decodeDte(tb.dte(7, { write: false }));
    expect(walker.walk(roDte, 0x1000n, false).ok).toBe(true);
    const w = walker.walk(roDte, 0x1000n, true);
    expect(w.fault).toMatchObject({ reason: 'permission', present: true, permission: true });
    expect(w.spa).toBe(0x80001000);
    // A level-2 PDE without IW.
    const rwDte = decodeDte(tb.dte(7));
    const pdeSpa = tb.slot(0x1000n, 2);
    memory.setWord(pdeSpa, memory.word(pdeSpa) & ~PTE_IW);
    expect(walker.walk(rwDte, 0x1000n, true).fault?.reason).toBe('permission');
    expect(walker.walk(rwDte, 0x1000n, false).ok).toBe(true);
    // A write-only leaf refuses reads.
    tb.leaf(0x2000n, 1, 0x80002000, 12, false, true);
    expect(walker.walk(decodeDte(tb.dte(7)), 0x2000n, false).fault?.reason).toBe('permission');
  });

  it('faults beyond-mode for an IOVA above the mode range; mode 6 covers all 64 bits', () => {
    const { walker, dte } = setup();
    expect(walker.walk(dte, 1n << 39n, false).fault?.reason).toBe('beyond-mode');
    expect(walker.walk(dte, (1n << 39n) - 1n, false).fault?.reason).toBe('not-present');
    const six = setup(6);
    six.tb.leaf(0xffff_ffff_ffff_f000n, 1, 0x80000000, 12);
    expect(six.walker.walk(six.dte, 0xffff_ffff_ffff_f123n, false)).toMatchObject({ ok: true, spa: 0x80000123, levelsRead: 6 });
  });

  it('faults dte-invalid for V=0 or TV=0 and bad-mode for mode 0 or 7', () => {
    const { tb, walker } = setup();
    expect(walker.walk(decodeDte(encodeDte({ valid: false })), 0n, false).fault?.reason).toBe('dte-invalid');
    expect(walker.walk(decodeDte(encodeDte({ valid: true, mode: 3, root: tb.root })), 0n, false).fault?.reason).toBe('dte-invalid');
    expect(walker.walk(decodeDte(tb.dte(1, { mode: 0 })), 0n, false).fault?.reason).toBe('bad-mode');
    expect(walker.walk(decodeDte(tb.dte(1, { mode: 7 })), 0n, false).fault?.reason).toBe('bad-mode');
  });

  it('faults bad-next-level for NL >= the level and for level skipping', () => {
    const { tb, walker, dte, pool } = setup();
    const t = pool.alloc(1);
    tb.setEntry(0n, 3, encodeTablePointer(t, 1)); // skips level 2
    const skip = walker.walk(dte, 0n, false);
    expect(skip.fault).toMatchObject({ reason: 'bad-next-level', present: true });
    tb.setEntry(0n, 3, (encodeTablePointer(t, 1) & ~(7n << 9n)) | (3n << 9n)); // NL = own level
    expect(walker.walk(dte, 0n, false).fault?.reason).toBe('bad-next-level');
    tb.setEntry(1n << 30n, 1, (encodeTablePointer(t, 1) & ~(7n << 9n)) | (1n << 9n)); // NL=1 at level 1
    expect(walker.walk(dte, 1n << 30n, false).fault?.reason).toBe('bad-next-level');
  });

  it('faults bad-leaf-size for a level-6 leaf, an NL=0 level-4 leaf and an NL=7 size the level does not allow', () => {
    const six = setup(6);
    six.tb.setEntry(0n, 6, 0x6000000040000001n);
    expect(six.walker.walk(six.dte, 0n, false).fault?.reason).toBe('bad-leaf-size');
    const four = setup(4);
    four.tb.setEntry(0n, 4, 0x6000000000000001n);
    expect(four.walker.walk(four.dte, 0n, false).fault?.reason).toBe('bad-leaf-size');
    const { tb, walker, dte } = setup();
    tb.setEntry(0n, 2, 0x6000000040000e01n); // NL=7 encoding 8 KB at level 2
    expect(walker.walk(dte, 0n, false).fault?.reason).toBe('bad-leaf-size');
  });

  it('strips the C-bit from the root, table pointers and leaves', () => {
    const { memory, pool, walker } = setup(3, 51);
    const c = 2 ** 51;
    const root = pool.alloc(1);
    const l2 = pool.alloc(1);
    memory.setWord(root, encodeTablePointer(l2, 2) | (1n << 51n));
    memory.setWord(l2, encodeLeaf({ pa: 0x80000000, sizeLg2: 21, level: 2, read: true, write: true, fc: false }) | (1n << 51n));
    const dte = decodeDte(encodeDte({ valid: true, translationValid: true, mode: 3, root: root + c, read: true, write: true, domainId: 1 }));
    const r = walker.walk(dte, 0x1234n, false);
    expect(r).toMatchObject({ ok: true, spa: 0x80001234 });
    expect(r.steps[1]?.entrySpa).toBe(l2);
    const noStrip = new PageWalker(memory, null).walk(dte, 0x1234n, false);
    expect(noStrip.fault?.reason).toBe('not-present');
  });

  it('sees table pages replaced under its per-level views: copy-on-write, zeroPages, a restore', () => {
    const { memory, tb, walker, dte } = setup();
    const leafSpa = tb.leaf(0x40001000n, 1, 0x80005000, 12);
    const walkSpa = (): number | string => {
      const r = walker.walk(dte, 0x40001000n, false);
      return r.ok ? r.spa : (r.fault?.reason ?? '?');
    };
    expect(walkSpa()).toBe(0x80005000);
    // Shared pages are frozen: the next write copies the leaf's table page.
    const shared = memory.sharePages();
    memory.setWord(leafSpa, encodeLeaf({ pa: 0x80009000, sizeLg2: 12, level: 1, read: true, write: true, fc: false }));
    expect(walkSpa()).toBe(0x80009000);
    memory.zeroPages(leafSpa - (leafSpa % 4096), 1);
    expect(walkSpa()).toBe('not-present');
    memory.restoreShared(shared);
    expect(walkSpa()).toBe(0x80005000);
    // An in-place write to a page the walker holds a view of.
    memory.setWord(leafSpa, encodeLeaf({ pa: 0x8000a000, sizeLg2: 12, level: 1, read: true, write: true, fc: false }));
    expect(walkSpa()).toBe(0x8000a000);
    memory.restorePages([]);
    expect(walkSpa()).toBe('not-present');
  });
});
