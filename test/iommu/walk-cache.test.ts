import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { encodeInvalidateDevtabEntry, encodeInvalidatePages } from '../../src/iommu/command.js';
import { decodeDte, encodeDte, type DecodedDte } from '../../src/iommu/dte.js';
import { Iommu, newTranslation, type Translation } from '../../src/iommu/iommu.js';
import { newPageWalk, PageWalker, type PageWalk } from '../../src/iommu/page-walker.js';
import { HostMemory } from '../../src/memory/host-memory.js';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { GiB, makeHost, MiB, TableBuilder } from '../helpers/page-tables.js';
import { psmashArgs } from '../helpers/smash.js';

/** What the exact walk (`walk`, no memo) gives for the page, in walkPfn's terms; faults keep present/permission. */
function exact(walker: PageWalker, dte: DecodedDte, iovaPfn: number, write: boolean) {
  const r = walker.walk(dte, BigInt(iovaPfn) * 4096n, write);
  return {
    fault: r.fault?.reason ?? null,
    ...(r.fault === undefined ? {} : { present: r.fault.present, permission: r.fault.permission }),
    read: r.read,
    write: r.write,
    levelsRead: r.levelsRead,
    leafLevel: r.leafLevel,
    leafEntrySpa: r.leafEntrySpa,
    sizeLg2: r.sizeLg2,
    spaPfn: Math.floor(r.spa / 4096),
    leafSpaBasePfn: r.leafSpaBase / 4096,
    leafIovaBasePfn: Number(r.leafIovaBase >> 12n),
  };
}

function viaPfn(w: PageWalk) {
  return {
    fault: w.fault,
    ...(w.fault === null ? {} : { present: w.present, permission: w.permission }),
    read: w.read,
    write: w.write,
    levelsRead: w.levelsRead,
    leafLevel: w.leafLevel,
    leafEntrySpa: w.leafEntrySpa,
    sizeLg2: w.sizeLg2,
    spaPfn: w.spaPfn,
    leafSpaBasePfn: w.leafSpaBasePfn,
    leafIovaBasePfn: w.leafIovaBasePfn,
  };
}

/** A translation's outcome, and the fresh walk's for the same page. */
function missOutcome(t: Translation) {
  return { ok: t.ok, reason: t.reason, spaPfn: t.ok ? t.spaPfn : null, leafSizeLg2: t.leafSizeLg2, hit: t.hit };
}
function walkOutcome(iommu: Iommu, deviceId: number, iovaPfn: number, write: boolean) {
  const r = iommu.walk(deviceId, BigInt(iovaPfn) * 4096n, write);
  return { ok: r.ok, reason: r.fault?.reason ?? null, spaPfn: r.ok ? Math.floor(r.spa / 4096) : null, leafSizeLg2: r.sizeLg2, hit: false };
}

const DEV = 0x100;

describe('PageWalker memo of upper levels (walk-cache.ts)', () => {
  it('walkPfn equals the exact walk through any sequence of table writes, zeroed and replaced pages, DTE permission and root changes', () => {
    // Level-3 table at page A, two level-2 tables, a level-1 table: every upper entry can be rewritten.
    const L3 = 0x10_0000;
    // The two level-2 tables 256 pages apart: as roots (mode 2) they share the memo's slot for a group.
    const L2 = [0x10_1000, 0x20_1000];
    const L1 = 0x10_3000;
    const slotValue = fc.oneof(
      fc.constantFrom(
        BigInt(L2[0] as number) | (2n << 9n) | 0x6000_0000_0000_0001n,
        BigInt(L2[1] as number) | (2n << 9n) | 0x6000_0000_0000_0001n,
        BigInt(L2[0] as number) | (2n << 9n) | 0x2000_0000_0000_0001n,
        BigInt(L1) | (1n << 9n) | 0x6000_0000_0000_0001n,
        0x4000_0000n | 0x6000_0000_0000_0001n, // 1 GB leaf at level 3, or a 2 MB leaf at level 2 (NL 0)
        0x8000_0000n | (7n << 9n) | 0xff000n | 0x6000_0000_0000_0001n, // NL=7 sized leaf
        0n,
        BigInt(L3) | (3n << 9n) | 0x6000_0000_0000_0001n, // bad next level below level 3
      ),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    );
    const op = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant('walk' as const),
          page: fc.oneof(fc.integer({ min: 0, max: 2047 }), fc.integer({ min: 0, max: 4 * 512 * 512 - 1 })),
          write: fc.boolean(),
          dte: fc.integer({ min: 0, max: 3 }),
        }),
      },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), table: fc.integer({ min: 0, max: 3 }), index: fc.integer({ min: 0, max: 3 }), value: slotValue }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('zero' as const), table: fc.integer({ min: 0, max: 3 }) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'restore' as const }) },
    );
    const tables = [L3, L2[0] as number, L2[1] as number, L1];
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), (ops) => {
        const memory = new HostMemory(GiB);
        const walker = new PageWalker(memory, 51);
        const reference = new PageWalker(memory, 51);
        memory.write64(L3, BigInt(L2[0] as number) | (2n << 9n) | 0x6000_0000_0000_0001n);
        memory.write64(L2[0] as number, 0x6000_0000_0000_0001n | 0x20_0000n);
        memory.write64((L2[0] as number) + 8, BigInt(L1) | (1n << 9n) | 0x6000_0000_0000_0001n);
        memory.write64(L1 + 8, 0x6000_0000_0000_0001n | 0x1234_5000n);
        const saved = memory.backedPages().map(([pfn, words]) => [pfn, words.slice()] as [number, BigUint64Array]);
        // DTEs: two permission sets, two roots (one with the C-bit set).
        const dtes = [
          decodeDte(encodeDte({ valid: true, translationValid: true, mode: 3, root: L3, read: true, write: true })),
          decodeDte(encodeDte({ valid: true, translationValid: true, mode: 3, root: L3, read: true, write: false })),
          decodeDte(encodeDte({ valid: true, translationValid: true, mode: 2, root: L2[0] as number, read: true, write: true })),
          decodeDte(encodeDte({ valid: true, translationValid: true, mode: 2, root: (L2[1] as number) + 2 ** 51, read: true, write: true })),
        ];
        const out = newPageWalk();
        for (const o of ops) {
          if (o.kind === 'walk') {
            const dte = dtes[o.dte] as DecodedDte;
            const page = dte.mode === 2 ? o.page % (512 * 512) : o.page;
            walker.walkPfn(dte, page, o.write, out);
            expect(viaPfn(out)).toEqual(exact(reference, dte, page, o.write));
          } else if (o.kind === 'write') memory.write64((tables[o.table] as number) + o.index * 8, o.value);
          else if (o.kind === 'zero') memory.zeroPages(tables[o.table] as number, 1);
          else memory.restorePages(saved);
        }
      }),
      { numRuns: runs(300) },
    );
  });

  it('walks every page of a 2 MB group from one memo entry, and sees the leaf rewritten under it', () => {
    const { memory, pool } = makeHost();
    const tb = new TableBuilder(memory, pool, 3);
    tb.leaf(0n, 2, 2 * GiB, 21);
    const walker = new PageWalker(memory, 51);
    const dte = decodeDte(tb.dte(1));
    const out = newPageWalk();
    for (let p = 0; p < 512; p++) {
      walker.walkPfn(dte, p, false, out);
      expect(out).toMatchObject({ fault: null, sizeLg2: 21, levelsRead: 2, spaPfn: (2 * GiB) / 4096 + p, leafIovaBasePfn: 0 });
    }
    const saved = memory.backedPages().map(([pfn, words]) => [pfn, words.slice()] as [number, BigUint64Array]);
    tb.leaf(0n, 2, 4 * GiB, 21);
    walker.walkPfn(dte, 7, false, out);
    expect(out.spaPfn).toBe((4 * GiB) / 4096 + 7);
    // Memory replaced wholesale (a state load, a revert), then a table page zeroed.
    memory.restorePages(saved);
    walker.walkPfn(dte, 9, false, out);
    expect(out.spaPfn).toBe((2 * GiB) / 4096 + 9);
    const l2Spa = out.leafEntrySpa - (out.leafEntrySpa % 4096);
    memory.zeroPages(l2Spa, 1);
    walker.walkPfn(dte, 10, false, out);
    expect(out).toMatchObject({ fault: 'not-present', leafLevel: 2 });
    memory.restorePages(saved);
    // The level-3 entry unmapped: the whole group faults at level 3.
    memory.write64(tb.root, 0n);
    walker.walkPfn(dte, 8, false, out);
    expect(viaPfn(out)).toEqual(exact(walker, dte, 8, false));
    expect(out).toMatchObject({ fault: 'not-present', levelsRead: 1, leafLevel: 3 });
  });
});

describe('Iommu translation through the walk memo', () => {
  function setup() {
    const { memory, pool } = makeHost();
    const iommu = new Iommu(memory, pool);
    const tb = new TableBuilder(memory, pool, 3);
    iommu.setDte(DEV, tb.dte(1));
    tb.leaf(0n, 2, 2 * GiB, 21);
    tb.leaf(2n * BigInt(MiB), 2, 4 * GiB, 21);
    return { memory, pool, iommu, tb };
  }

  it('INVALIDATE_IOMMU_PAGES after a table edit: the next miss walks the new tables', () => {
    const { iommu, tb } = setup();
    const out = newTranslation();
    iommu.translatePage(DEV, 3, false, out);
    expect(out.spaPfn).toBe((2 * GiB) / 4096 + 3);
    tb.leaf(0n, 2, 6 * GiB, 21);
    // Stale until invalidated (as hardware): the IOTLB still answers for page 3.
    iommu.translatePage(DEV, 3, false, out);
    expect(out).toMatchObject({ hit: true, spaPfn: (2 * GiB) / 4096 + 3 });
    const [q0, q1] = encodeInvalidatePages(1, 0n, 21);
    iommu.executeCommand(q0, q1, 0);
    for (const p of [3, 4, 511]) {
      iommu.translatePage(DEV, p, false, out);
      expect(missOutcome(out)).toEqual(walkOutcome(iommu, DEV, p, false));
      expect(out.spaPfn).toBe((6 * GiB) / 4096 + p);
    }
  });

  it('INVALIDATE_DEVTAB_ENTRY after the DTE in memory moved to other tables: the next miss walks those', () => {
    const { memory, pool, iommu } = setup();
    const out = newTranslation();
    iommu.translatePage(DEV, 5, false, out);
    const other = new TableBuilder(memory, pool, 3);
    other.leaf(0n, 2, 8 * GiB, 21);
    const [a, b, c, d] = other.dte(1);
    memory.writeWords(iommu.deviceTableSpa + DEV * 32, [a as bigint, b as bigint, c as bigint, d as bigint]);
    const [q0, q1] = encodeInvalidateDevtabEntry(DEV);
    iommu.executeCommand(q0, q1, 0);
    iommu.iotlb.invalidateAll();
    iommu.translatePage(DEV, 6, false, out);
    expect(missOutcome(out)).toEqual(walkOutcome(iommu, DEV, 6, false));
    expect(out.spaPfn).toBe((8 * GiB) / 4096 + 6);
    // Two devices in turn, each with its own DTE: each translation uses its own.
    iommu.setDte(0x200, other.dte(2, { write: false }));
    for (let p = 0; p < 6; p++) {
      iommu.translatePage(p % 2 === 0 ? DEV : 0x200, 64 + p, true, out);
      expect(missOutcome(out)).toEqual(walkOutcome(iommu, p % 2 === 0 ? DEV : 0x200, 64 + p, true));
    }
  });

  it('iommu.setDte with new permissions: the memo key carries them', () => {
    const { iommu, tb } = setup();
    const out = newTranslation();
    iommu.translatePage(DEV, 9, true, out);
    expect(out.ok).toBe(true);
    iommu.setDte(DEV, tb.dte(1, { write: false }));
    iommu.translatePage(DEV, 10, true, out);
    expect(out).toMatchObject({ ok: false, reason: 'permission' });
  });

  it('iommu.map and iommu.unmap: a later miss walks what they wrote', () => {
    const { iommu } = setup();
    const out = newTranslation();
    const base = 4n * BigInt(MiB);
    iommu.translatePage(DEV, 1024, false, out);
    expect(out).toMatchObject({ ok: false, reason: 'not-present' });
    iommu.map(1, { iova: base, spa: 10 * GiB, length: 2 * MiB, sizeLg2: 12, read: true, write: true });
    iommu.translatePage(DEV, 1025, false, out);
    expect(out).toMatchObject({ ok: true, spaPfn: (10 * GiB) / 4096 + 1, leafSizeLg2: 12, levelsRead: 3 });
    iommu.unmap(1, base, 2 * MiB);
    iommu.translatePage(DEV, 1026, false, out);
    expect(missOutcome(out)).toEqual(walkOutcome(iommu, DEV, 1026, false));
    expect(out.ok).toBe(false);
  });
});

describe('DMA through the walk memo on the default platform', () => {
  const TEE_DEV = 0x100;
  const REGION_IOVA = 0x20_0000n;
  const REGION_PFN = Number(REGION_IOVA >> 12n);

  function touch(p: Platform, pfn: number) {
    const out = newTranslation();
    p.m.iommu.translatePage(TEE_DEV, pfn, false, out);
    return out;
  }

  it("a smash replacing the 2 MB leaf by a PTE table, and the unsmash back: the region's misses walk the new tables", async () => {
    const p = createPlatform();
    expect(touch(p, REGION_PFN)).toMatchObject({ ok: true, leafSizeLg2: 21 });
    const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
    expect((await p.tmpmPsmashIo(a)).statusName).toBe('SUCCESS');
    for (const pfn of [REGION_PFN + 1, REGION_PFN + 511, REGION_PFN]) {
      const t = touch(p, pfn);
      expect(t).toMatchObject({ ok: true, hit: false, leafSizeLg2: 12 });
      expect(missOutcome(t)).toEqual(walkOutcome(p.m.iommu, TEE_DEV, pfn, false));
    }
    const u = await p.tmpmPunsmashIo({ srcPgSpa: a.srcPgSpa, srcHpmdSpa: a.srcHpmdSpa, gctxSpa: a.gctxSpa });
    expect(u.statusName).toBe('SUCCESS');
    for (const pfn of [REGION_PFN + 2, REGION_PFN + 3]) {
      const t = touch(p, pfn);
      expect(t).toMatchObject({ ok: true, hit: false, leafSizeLg2: 21 });
      expect(missOutcome(t)).toEqual(walkOutcome(p.m.iommu, TEE_DEV, pfn, false));
    }
    p.dispose();
  });

  it('an RMP change and a binding change between two misses of one leaf: the second access sees them', async () => {
    const p = createPlatform();
    const spaOf = (iovaPfn: number) => touch(p, iovaPfn).spaPfn * 4096;
    expect((await p.dmaIssue({ deviceId: TEE_DEV, iova: REGION_IOVA, bytes: 8, write: false })).outcome).toBe('ok');
    // A 4 KB RMP entry inside the 2 MB page: PSMASH, then reassign one page elsewhere.
    const regionSpa = spaOf(REGION_PFN) - (spaOf(REGION_PFN) % (2 * MiB));
    expect(p.rmpPsmash(regionSpa).rc).toBe(0);
    p.rmpUpdate(regionSpa + 0x5000, { assigned: false, pageSize: '4K' });
    const r = await p.dmaIssue({ deviceId: TEE_DEV, iova: REGION_IOVA + 0x5000n, bytes: 8, write: false });
    expect(r.outcome).toBe('rmp_fault');
    // Unbound (no TDI in RUN): the same device is now an untrusted one.
    p.m.firmware.setBinding(TEE_DEV, null);
    const u = await p.dmaIssue({ deviceId: TEE_DEV, iova: REGION_IOVA + 0x6000n, bytes: 8, write: false });
    expect(u).toMatchObject({ outcome: 'rmp_fault' });
    expect(u.reason).toContain('assigned');
    p.dispose();
  });
});
