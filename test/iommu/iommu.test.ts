import { describe, expect, it } from 'vitest';
import { encodeCompletionWait, encodeInvalidateAll, encodeInvalidateDevtabEntry, encodeInvalidateDomain, encodeInvalidatePages } from '../../src/iommu/command.js';
import { encodeDte } from '../../src/iommu/dte.js';
import { Iommu, newTranslation } from '../../src/iommu/iommu.js';
import { encodeLeaf } from '../../src/iommu/pte.js';
import { EmuError } from '../../src/util/emu-error.js';
import { toHex32 } from '../../src/util/hex.js';
import { loadVectors } from '../helpers/vectors.js';
import { GiB, makeHost, MiB, TableBuilder } from '../helpers/page-tables.js';

const DEV = 0x100;

function setup() {
  const { memory, pool } = makeHost();
  const iommu = new Iommu(memory, pool);
  const tb = new TableBuilder(memory, pool, 3);
  iommu.setDte(DEV, tb.dte(1));
  return { memory, pool, iommu, tb };
}

describe('Iommu', () => {
  it('allocates a 2 MiB-aligned device table from the pool and reads DTEs back', () => {
    const { iommu, tb } = setup();
    expect(iommu.deviceTableSpa % (2 * MiB)).toBe(0);
    expect(iommu.readDte(DEV)).toMatchObject({ valid: true, translationValid: true, mode: 3, root: tb.root, domainId: 1, qwords: tb.dte(1) });
    expect(iommu.domainOf(DEV)).toBe(1);
    expect(iommu.domainOf(0x200)).toBe(-1);
  });

  it('translates on a miss with a walk, then hits the IOTLB with levelsRead 0', () => {
    const { iommu, tb } = setup();
    tb.leaf(0x40000000n, 2, 2 * GiB, 21);
    const out = newTranslation();
    iommu.translatePage(DEV, 0x40005, false, out);
    expect(out).toMatchObject({ ok: true, hit: false, levelsRead: 2, spaPfn: 0x80005, leafSizeLg2: 21, leafSpaBasePfn: 0x80000, leafIovaBasePfn: 0x40000, domainId: 1, reason: null });
    iommu.translatePage(DEV, 0x40006, true, out);
    expect(out).toMatchObject({ ok: true, hit: false, spaPfn: 0x80006 });
    iommu.translatePage(DEV, 0x40005, true, out);
    expect(out).toMatchObject({ ok: true, hit: true, levelsRead: 0, spaPfn: 0x80005 });
    expect(iommu.iotlb.size).toBe(2);
  });

  it('reports walk faults and cached permission faults without filling the IOTLB', () => {
    const { iommu, tb } = setup();
    tb.leaf(0x1000n, 1, 2 * GiB, 12, true, false);
    const out = newTranslation();
    iommu.translatePage(DEV, 0x2, false, out);
    expect(out).toMatchObject({ ok: false, reason: 'not-present', present: false, levelsRead: 3 });
    iommu.translatePage(DEV, 0x1, true, out);
    expect(out).toMatchObject({ ok: false, reason: 'permission', present: true, permission: true, hit: false });
    expect(iommu.iotlb.size).toBe(0);
    iommu.translatePage(DEV, 0x1, false, out);
    iommu.translatePage(DEV, 0x1, true, out);
    expect(out).toMatchObject({ ok: false, reason: 'permission', hit: true });
    iommu.translatePage(0x300, 0x1, false, out);
    expect(out).toMatchObject({ ok: false, reason: 'dte-invalid', domainId: -1 });
  });

  it('keeps a stale translation after a table change until INVALIDATE_IOMMU_PAGES drops the overlapping leaf', () => {
    const { iommu, tb } = setup();
    const slot = tb.leaf(0x40000000n, 2, 2 * GiB, 21);
    const out = newTranslation();
    iommu.translatePage(DEV, 0x40010, false, out);
    tb.memory.setWord(slot, encodeLeaf({ pa: 3 * GiB, sizeLg2: 21, level: 2, read: true, write: true, fc: false }));
    iommu.translatePage(DEV, 0x40010, false, out);
    expect(out).toMatchObject({ hit: true, spaPfn: 0x80010 });
    expect(iommu.staleIotlbEntries()).toHaveLength(1);
    expect(iommu.walk(DEV, 0x40010000n, false).spa).toBe(3 * GiB + 0x10000);
    // Another domain's range does not help; a 4 KB invalidation at the leaf's first page does.
    expect(iommu.executeCommand(...encodeInvalidatePages(2, 0x40000000n, 12), 0).dropped).toBe(0);
    const res = iommu.executeCommand(...encodeInvalidatePages(1, 0x40000000n, 12), 0);
    expect(res).toMatchObject({ opcode: 3, name: 'INVALIDATE_IOMMU_PAGES', dropped: 1 });
    iommu.translatePage(DEV, 0x40010, false, out);
    expect(out).toMatchObject({ hit: false, spaPfn: 0xc0010 });
    expect(iommu.staleIotlbEntries()).toEqual([]);
  });

  it('invalidates a whole domain and everything', () => {
    const { iommu, tb } = setup();
    tb.leaf(0n, 2, 2 * GiB, 21);
    const out = newTranslation();
    for (let p = 0; p < 4; p++) iommu.translatePage(DEV, p, false, out);
    expect(iommu.executeCommand(...encodeInvalidateDomain(1), 0)).toMatchObject({ dropped: 4 });
    iommu.translatePage(DEV, 0, false, out);
    expect(iommu.executeCommand(...encodeInvalidateAll(), 0)).toMatchObject({ name: 'INVALIDATE_IOMMU_ALL', dropped: 2 });
    expect(iommu.iotlb.size).toBe(0);
  });

  it('keeps using a cached DTE rewritten in memory until INVALIDATE_DEVTAB_ENTRY', () => {
    const { iommu, tb, memory } = setup();
    tb.leaf(0n, 2, 2 * GiB, 21);
    const out = newTranslation();
    iommu.translatePage(DEV, 0, false, out);
    memory.writeWords(iommu.deviceTable.entrySpa(DEV), encodeDte({ valid: false }));
    iommu.translatePage(DEV, 0, false, out);
    expect(out).toMatchObject({ ok: true, domainId: 1 });
    expect(iommu.domainOf(DEV)).toBe(1);
    expect(iommu.executeCommand(...encodeInvalidateDevtabEntry(DEV), 0)).toMatchObject({ dropped: 1 });
    iommu.translatePage(DEV, 0, false, out);
    expect(out).toMatchObject({ ok: false, reason: 'dte-invalid' });
  });

  it('makes setDte effective at once and drops the old and new domains from the IOTLB', () => {
    const { iommu, tb } = setup();
    tb.leaf(0n, 2, 2 * GiB, 21);
    const out = newTranslation();
    iommu.translatePage(DEV, 0, false, out);
    iommu.setDte(DEV, tb.dte(9, { write: false }));
    expect(iommu.iotlb.size).toBe(0);
    iommu.translatePage(DEV, 0, true, out);
    expect(out).toMatchObject({ ok: false, reason: 'permission', domainId: 9 });
  });

  it('stores the COMPLETION_WAIT data, accepts 0x4-0x7 and logs ILLEGAL_COMMAND_ERROR for other opcodes', () => {
    const { iommu, memory } = setup();
    const cw = iommu.executeCommand(...encodeCompletionWait(0x2000, 0xfeedn), 5);
    expect(cw).toMatchObject({ opcode: 1, name: 'COMPLETION_WAIT' });
    expect(cw.illegal).toBeUndefined();
    expect(memory.read64(0x2000)).toBe(0xfeedn);
    expect(iommu.executeCommand(0x6000000000000000n, 0n, 6)).toMatchObject({ opcode: 6, effect: 'accepted, no effect' });
    const bad = iommu.executeCommand(0x9000000000000000n, 0n, 7);
    expect(bad).toMatchObject({ opcode: 9, name: 'ILLEGAL', illegal: true });
    const { events } = iommu.eventLog.read();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ seq: 1, type: 5, typeName: 'ILLEGAL_COMMAND_ERROR', atNs: 7, address: 0n });
  });

  it('logs IO_PAGE_FAULT and RMP_PAGE_FAULT bit-exactly as the vectors', () => {
    const { iommu } = setup();
    iommu.logIoPageFault(0x100, 0x20, 0x40001000n, true, false, false, 1);
    iommu.logIoPageFault(0x200, 0x2, 0x1000n, true, true, true, 2);
    iommu.logRmpPageFault(0x100, 1, 0xa01000n, true, 0x20, 3);
    const { vectors } = loadVectors<{ name: string; words: string[] }>('iommu-events');
    const want = [vectors[0], vectors[2], vectors[3]].map((v) => v?.words);
    const got = iommu.eventLog.read().events;
    expect(got.map((e) => e.words.map(toHex32))).toEqual(want);
    expect(got[2]).toMatchObject({ domainId: 1, vmgTag: 1, rmpFlags: 0x20 });
  });

  it('maps and unmaps through the domain, raising the mode of each of its DTEs', () => {
    const { iommu, tb } = setup();
    iommu.setDte(0x101, tb.dte(1));
    iommu.map(1, { iova: 0n, spa: 2 * GiB, length: 4 * MiB, sizeLg2: 21, read: true, write: true });
    expect(iommu.walk(DEV, 0x200010n, true)).toMatchObject({ ok: true, spa: 2 * GiB + 0x200010 });
    const r = iommu.map(1, { iova: 1n << 48n, spa: 2 * GiB, length: 2 * MiB, sizeLg2: 21, read: true, write: false });
    expect(r).toMatchObject({ raised: true, mode: 5 });
    for (const d of [DEV, 0x101]) expect(iommu.readDte(d)).toMatchObject({ mode: 5, root: r.root, domainId: 1, read: true, write: true });
    expect(iommu.walk(0x101, (1n << 48n) + 8n, false)).toMatchObject({ ok: true, spa: 2 * GiB + 8, levelsRead: 4 });
    expect(iommu.walk(0x101, 8n, false)).toMatchObject({ ok: true, levelsRead: 4 });
    expect(iommu.unmap(1, 0n, 2 * MiB)).toEqual({ unmappedBytes: 2 * MiB });
    expect(iommu.walk(DEV, 8n, false).fault?.reason).toBe('not-present');
    expect(() => iommu.map(7, { iova: 0n, spa: 0, length: 4096, sizeLg2: 12, read: true, write: true })).toThrow(/domain 7/);
    try {
      iommu.unmap(7, 0n, 4096);
    } catch (e) {
      expect((e as EmuError).code).toBe('EMU_NOT_FOUND');
    }
  });

  it('saves and restores the IOTLB (stale entries too), event log and DTE cache', () => {
    const { iommu, tb, memory, pool } = setup();
    const slot = tb.leaf(0n, 2, 2 * GiB, 21);
    const out = newTranslation();
    iommu.translatePage(DEV, 3, false, out);
    memory.setWord(slot, 0n);
    iommu.logIoPageFault(DEV, 1, 0x5000n, false, false, false, 11);
    const state = JSON.parse(JSON.stringify(iommu.getState()));
    const copy = new Iommu(memory, pool, { deviceTableSpa: iommu.deviceTableSpa });
    copy.setState(state);
    expect(copy.getState()).toEqual(state);
    copy.translatePage(DEV, 3, false, out);
    expect(out).toMatchObject({ ok: true, hit: true, spaPfn: 0x80003 });
    expect(copy.eventLog.read().events).toEqual(iommu.eventLog.read().events);
  });
});
