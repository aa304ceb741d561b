import { describe, expect, it } from 'vitest';
import { decodeDte, encodeDte } from '../../src/iommu/dte.js';
import { IommuMapper } from '../../src/iommu/mapper.js';
import { PageWalker } from '../../src/iommu/page-walker.js';
import { decodePte, levelIndex } from '../../src/iommu/pte.js';
import { EmuError } from '../../src/util/emu-error.js';
import { GiB, makeHost, MiB } from '../helpers/page-tables.js';

const TiB = 2 ** 40;

function setup(mode = 3) {
  const { memory, pool } = makeHost(2 * TiB);
  const mapper = new IommuMapper(memory, pool, 51);
  const walker = new PageWalker(memory, 51);
  const root = pool.alloc(1);
  const dteFor = (r: number, m: number) => decodeDte(encodeDte({ valid: true, translationValid: true, mode: m, root: r, read: true, write: true, domainId: 1 }));
  return { memory, pool, mapper, walker, root, mode, dteFor };
}

function snapshot(memory: ReturnType<typeof makeHost>['memory']): string {
  return JSON.stringify(memory.backedPages().map(([pfn, words]) => [pfn, [...words].map(String)]));
}

describe('IommuMapper', () => {
  it('maps 4 KB and 2 MB leaves that the walker translates, with tables from the pool', () => {
    const { mapper, walker, root, dteFor } = setup();
    const r = mapper.map(root, 3, { iova: 0x40000000n, spa: 2 * GiB, length: 4 * MiB, sizeLg2: 21, read: true, write: true });
    expect(r).toMatchObject({ root, mode: 3, raised: false, leaves: 2, tablesAllocated: 1 });
    expect(walker.walk(dteFor(root, 3), 0x40212345n, true)).toMatchObject({ ok: true, spa: 2 * GiB + 0x212345, sizeLg2: 21 });
    const s = mapper.map(root, 3, { iova: 0x1000n, spa: 3 * GiB, length: 8192, sizeLg2: 12, read: true, write: false });
    expect(s).toMatchObject({ leaves: 2, tablesAllocated: 2 });
    const w = walker.walk(dteFor(root, 3), 0x2010n, false);
    expect(w).toMatchObject({ ok: true, spa: 3 * GiB + 0x1010, sizeLg2: 12 });
    expect(w.steps[2]?.value).toBe(0x2000_0000_c000_1001n); // PR | IR only, no FC
    expect(walker.walk(dteFor(root, 3), 0x2010n, true).fault?.reason).toBe('permission');
  });

  it('writes PDEs as PR | NL | addr | IR | IW and FC only when asked', () => {
    const { mapper, memory, root } = setup();
    mapper.map(root, 3, { iova: 0n, spa: 2 * GiB, length: 2 * MiB, sizeLg2: 21, read: true, write: false, fc: true });
    const pde = memory.word(root);
    expect(decodePte(pde, 3)).toMatchObject({ present: true, nextLevel: 2, read: true, write: true, leaf: false });
    expect(pde & ~0x000f_ffff_ffff_f000n).toBe(0x6000_0000_0000_0401n);
    const leafSpa = decodePte(pde, 3).table as number;
    expect(memory.word(leafSpa)).toBe(0x3000_0000_8000_0001n);
  });

  it('writes an NL=7 leaf into every slot it covers (hardware.md §3.3)', () => {
    const { mapper, memory, walker, root, dteFor } = setup();
    mapper.map(root, 3, { iova: 0x10000n, spa: 2 * GiB + 0x40000, length: 0x8000, sizeLg2: 14, read: true, write: true });
    const r = walker.walk(dteFor(root, 3), 0x10000n, false);
    const table = r.leafEntrySpa - levelIndex(0x10000n, 1) * 8;
    const values = [...Array(10).keys()].map((i) => memory.word(table + (0x10 + i) * 8));
    expect(values.slice(0, 4).every((v) => v === 0x6000_0000_8004_1e01n)).toBe(true);
    expect(values.slice(4, 8).every((v) => v === 0x6000_0000_8004_5e01n)).toBe(true);
    expect(values.slice(8)).toEqual([0n, 0n]);
    expect(walker.walk(dteFor(root, 3), 0x17008n, false)).toMatchObject({ ok: true, sizeLg2: 14, spa: 2 * GiB + 0x47008 });
  });

  it('refuses to map over a present entry and changes nothing', () => {
    const { mapper, memory, pool, root } = setup();
    mapper.map(root, 3, { iova: 0x40200000n, spa: 2 * GiB, length: 2 * MiB, sizeLg2: 21, read: true, write: true });
    const before = snapshot(memory);
    const pages = pool.allocatedPages();
    // 4 KB leaves below the 2 MB leaf, and a 2 MB range whose last page collides.
    expect(() => mapper.map(root, 3, { iova: 0x40201000n, spa: 3 * GiB, length: 4096, sizeLg2: 12, read: true, write: true })).toThrow(/already mapped/);
    expect(() => mapper.map(root, 3, { iova: 0x40000000n, spa: 3 * GiB, length: 4 * MiB, sizeLg2: 21, read: true, write: true })).toThrow(EmuError);
    expect(snapshot(memory)).toBe(before);
    expect(pool.allocatedPages()).toBe(pages);
  });

  it('refuses misaligned or unknown sizes, naming the field', () => {
    const { mapper, root } = setup();
    const ok = { iova: 0n, spa: 2 * GiB, length: 2 * MiB, sizeLg2: 21, read: true, write: true };
    const field = (req: typeof ok) => {
      try {
        mapper.map(root, 3, req);
        return 'no throw';
      } catch (e) {
        return (e as EmuError).detail?.field;
      }
    };
    expect(field({ ...ok, iova: 0x1000n })).toBe('iova');
    expect(field({ ...ok, spa: 2 * GiB + 4096 })).toBe('spa');
    expect(field({ ...ok, length: 3 * MiB })).toBe('length');
    expect(field({ ...ok, sizeLg2: 39 })).toBe('sizeLg2');
    expect(field({ ...ok, spa: 2 * TiB })).toBe('spa');
  });

  it('raises the mode with new top tables whose entry 0 points at the old root (increase_top)', () => {
    const { mapper, walker, memory, root, dteFor } = setup();
    mapper.map(root, 3, { iova: 0n, spa: 2 * GiB, length: 4096, sizeLg2: 12, read: true, write: true });
    expect(mapper.requiredMode(2n ** 39n - 1n)).toBe(3);
    expect(mapper.requiredMode(2n ** 39n)).toBe(4);
    expect(mapper.requiredMode(2n ** 64n - 1n)).toBe(6);
    expect(mapper.requiredMode(0n, 30)).toBe(3);
    expect(mapper.requiredMode(0n, 12)).toBe(1);
    const r = mapper.map(root, 3, { iova: 1n << 40n, spa: 2 * GiB, length: 2 * MiB, sizeLg2: 21, read: true, write: true });
    expect(r).toMatchObject({ mode: 4, raised: true });
    expect(r.root).not.toBe(root);
    expect(decodePte(memory.word(r.root), 4)).toMatchObject({ nextLevel: 3, table: root });
    const dte = dteFor(r.root, 4);
    expect(walker.walk(dte, 0x10n, false)).toMatchObject({ ok: true, spa: 2 * GiB + 0x10, levelsRead: 4 });
    expect(walker.walk(dte, (1n << 40n) + 0x10n, false)).toMatchObject({ ok: true, spa: 2 * GiB + 0x10 });
  });

  it('unmaps whole leaves and reports the bytes removed; tables stay', () => {
    const { mapper, walker, root, dteFor, pool } = setup();
    mapper.map(root, 3, { iova: 0n, spa: 2 * GiB, length: 16 * 4096, sizeLg2: 12, read: true, write: true });
    const pages = pool.allocatedPages();
    expect(mapper.unmap(root, 3, 0x4000n, 0x4000)).toEqual({ unmappedBytes: 0x4000 });
    expect(walker.walk(dteFor(root, 3), 0x4000n, false).fault?.reason).toBe('not-present');
    expect(walker.walk(dteFor(root, 3), 0x8000n, false).ok).toBe(true);
    expect(walker.walk(dteFor(root, 3), 0x3000n, false).ok).toBe(true);
    expect(pool.allocatedPages()).toBe(pages);
    expect(mapper.unmap(root, 3, 1n << 30n, 4096)).toEqual({ unmappedBytes: 0 });
  });

  it('refuses an unmap that starts inside a leaf', () => {
    const { mapper, memory, root } = setup();
    mapper.map(root, 3, { iova: 0x40000000n, spa: 2 * GiB, length: 2 * MiB, sizeLg2: 21, read: true, write: true });
    mapper.map(root, 3, { iova: 0x10000n, spa: 3 * GiB, length: 0x4000, sizeLg2: 14, read: true, write: true });
    const before = snapshot(memory);
    expect(() => mapper.unmap(root, 3, 0x40001000n, 4096)).toThrow(/starts inside a 2\^21-byte leaf/);
    expect(() => mapper.unmap(root, 3, 0x11000n, 4096)).toThrow(/inside a 2\^14-byte leaf/);
    expect(snapshot(memory)).toBe(before);
  });

  it('removes the whole leaf, every NL=7 replica, when the unmap ends inside it', () => {
    const { mapper, walker, memory, root, dteFor } = setup();
    mapper.map(root, 3, { iova: 0x10000n, spa: 3 * GiB, length: 0x8000, sizeLg2: 14, read: true, write: true });
    const leafSpa = walker.walk(dteFor(root, 3), 0x10000n, false).leafEntrySpa;
    expect(mapper.unmap(root, 3, 0x10000n, 0x5000)).toEqual({ unmappedBytes: 0x8000 });
    for (let i = 0; i < 8; i++) expect(memory.word(leafSpa + i * 8)).toBe(0n);
    const big = mapper.map(root, 3, { iova: 0x40000000n, spa: 2 * GiB, length: 2 * MiB, sizeLg2: 21, read: true, write: true });
    expect(big.leaves).toBe(1);
    expect(mapper.unmap(root, 3, 0x40000000n, 4096)).toEqual({ unmappedBytes: 2 * MiB });
    expect(walker.walk(dteFor(root, 3), 0x401ff000n, false).fault?.reason).toBe('not-present');
  });

  // How fast: `npm run bench` (scale: set-up and iommu.unmap of a 1 TiB guest, target < 1 s each).
  it('maps 1 TiB with 2 MB leaves (raising to mode 4) and unmaps all of it', () => {
    const { mapper, walker, root, dteFor } = setup();
    const r = mapper.map(root, 3, { iova: 0n, spa: 0, length: TiB, sizeLg2: 21, read: true, write: true });
    expect(r.leaves).toBe(524288);
    expect(r.mode).toBe(4);
    expect(walker.walk(dteFor(r.root, 4), BigInt(TiB - 4096), false)).toMatchObject({ ok: true, spa: TiB - 4096 });
    expect(mapper.unmap(r.root, 4, 0n, TiB)).toEqual({ unmappedBytes: TiB });
    expect(walker.walk(dteFor(r.root, 4), BigInt(TiB - 4096), false).fault?.reason).toBe('not-present');
    expect(walker.walk(dteFor(r.root, 4), 0n, false).fault?.reason).toBe('not-present');
  });
});
