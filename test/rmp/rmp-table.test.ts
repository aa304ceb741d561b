import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { RMP_RC } from '../../src/rmp/return-codes.js';
import { RmpTable, type RmpChange } from '../../src/rmp/rmp-table.js';
import { newRmpScratch } from '../../src/rmp/rmp-entry.js';
import { ERROR_CODES } from '../../src/util/emu-error.js';
import { loadVectors } from '../helpers/vectors.js';

const K4 = 0x1000;
const M2 = 0x200000;
const GIB = 2 ** 30;
const raw = (name: string): bigint => {
  const v = loadVectors<{ name: string; raw: string }>('rmp-raw').vectors.find((x) => x.name.startsWith(name));
  if (v === undefined) throw new Error(name);
  return BigInt(v.raw);
};

/** The vectors' page: 2 MB at SPA 0x40000000, GPA 0x40000000, ASID 5, validated. */
function vectorTable(): RmpTable {
  const t = new RmpTable(4 * GIB);
  expect(t.rmpUpdate(0x40000000, { assigned: true, pageSize: '2M', asid: 5, gpa: 0x40000000 })).toBe(RMP_RC.SUCCESS);
  expect(t.pvalidate(0x40000000, { asid: 5, gpa: 0x40000000, pageSize: '2M', validate: true })).toEqual({ rc: 0 });
  return t;
}

function private4K(t: RmpTable, spa: number, asid: number, gpa: number, immutable = false): void {
  expect(t.rmpUpdate(spa, { assigned: true, pageSize: '4K', asid, gpa, immutable })).toBe(RMP_RC.SUCCESS);
}

describe('RmpTable', () => {
  describe('read', () => {
    it('reads untouched memory as an unassigned 4 KB entry (raw 0)', () => {
      const t = new RmpTable(GIB);
      expect(t.read(0x12345)).toEqual({ entrySpa: 0x12000, assigned: false, pageSize: '4K', immutable: false, validated: false, vmsa: false, asid: 0, gpa: 0, raw: 0n });
    });

    it('returns the 2 MB entry itself, with its base SPA and GPA, for any page it covers', () => {
      const t = vectorTable();
      const r = t.read(0x40123456);
      expect(r.entrySpa).toBe(0x40000000);
      expect(r.gpa).toBe(0x40000000);
      expect(r.raw).toBe(raw('2M private page'));
    });

    it('throws OUT_OF_RANGE for an SPA outside memory or not a safe integer', () => {
      const t = new RmpTable(GIB);
      for (const spa of [GIB, -1, 0.5, Number.NaN, 2 ** 60]) expect(() => t.read(spa)).toThrow(expect.objectContaining({ code: ERROR_CODES.OUT_OF_RANGE }));
      expect(() => t.rmpUpdate(GIB, { assigned: false, pageSize: '4K' })).toThrow(expect.objectContaining({ code: ERROR_CODES.OUT_OF_RANGE }));
      expect(() => t.psmash(GIB)).toThrow(expect.objectContaining({ code: ERROR_CODES.OUT_OF_RANGE }));
    });

    it('throws OUT_OF_RANGE for a 2 MB operation on a last region that memory only partly covers', () => {
      const t = new RmpTable(M2 + 16 * K4);
      expect(() => t.rmpUpdate(M2, { assigned: false, pageSize: '2M' })).toThrow(expect.objectContaining({ code: ERROR_CODES.OUT_OF_RANGE }));
      expect(t.rmpUpdate(M2 + K4, { assigned: true, pageSize: '4K', asid: 1, gpa: 0 })).toBe(RMP_RC.SUCCESS);
    });
  });

  describe('rmpUpdate', () => {
    it('writes the firmware page of hardware.md §1.5 as raw 0x5', () => {
      const t = new RmpTable(GIB);
      private4K(t, 0x3000, 0, 0, true);
      expect(t.read(0x3000).raw).toBe(raw('firmware-owned page'));
    });

    it('returns FAIL_INPUT for a misaligned SPA or GPA, or an ASID beyond 10 bits', () => {
      const t = new RmpTable(GIB);
      expect(t.rmpUpdate(0x1800, { assigned: false, pageSize: '4K' })).toBe(RMP_RC.FAIL_INPUT);
      expect(t.rmpUpdate(K4, { assigned: false, pageSize: '2M' })).toBe(RMP_RC.FAIL_INPUT);
      expect(t.rmpUpdate(M2, { assigned: true, pageSize: '2M', asid: 1, gpa: K4 })).toBe(RMP_RC.FAIL_INPUT);
      expect(t.rmpUpdate(K4, { assigned: true, pageSize: '4K', asid: 1, gpa: 0x10 })).toBe(RMP_RC.FAIL_INPUT);
      expect(t.rmpUpdate(K4, { assigned: true, pageSize: '4K', asid: 1024, gpa: 0 })).toBe(RMP_RC.FAIL_INPUT);
      expect(t.rmpUpdate(K4, { assigned: true, pageSize: '4K', asid: -1, gpa: 0 })).toBe(RMP_RC.FAIL_INPUT);
      expect(t.rmpUpdate(K4, { assigned: true, pageSize: '4K', asid: 1, gpa: 2 ** 51 })).toBe(RMP_RC.FAIL_INPUT);
      expect(t.getState().entries).toEqual([]);
    });

    it('ignores asid and gpa when the new state is unassigned; a 2 MB Hypervisor-Fixed entry is not modelled (FAIL_INPUT)', () => {
      const t = new RmpTable(GIB);
      expect(t.rmpUpdate(M2, { assigned: false, pageSize: '2M', asid: 4000, gpa: 3 })).toBe(RMP_RC.SUCCESS);
      expect(t.read(M2).raw).toBe(0x2n);
      expect(t.rmpUpdate(M2, { assigned: false, pageSize: '2M', immutable: true })).toBe(RMP_RC.FAIL_INPUT);
      expect(t.read(M2).raw).toBe(0x2n);
    });

    it('returns FAIL_OVERLAP for a 4 KB update inside an assigned 2 MB entry, whatever the new state', () => {
      const t = vectorTable();
      expect(t.rmpUpdate(0x40001000, { assigned: false, pageSize: '4K' })).toBe(RMP_RC.FAIL_OVERLAP);
      expect(t.rmpUpdate(0x40000000, { assigned: true, pageSize: '4K', asid: 5, gpa: 0 })).toBe(RMP_RC.FAIL_OVERLAP);
      expect(t.read(0x40000000).raw).toBe(raw('2M private page'));
    });

    it('returns FAIL_OVERLAP for a 2 MB update over a region holding any assigned 4 KB entry', () => {
      const t = new RmpTable(GIB);
      private4K(t, M2 + 511 * K4, 1, 0);
      expect(t.rmpUpdate(M2, { assigned: false, pageSize: '2M' })).toBe(RMP_RC.FAIL_OVERLAP);
      expect(t.rmpUpdate(M2, { assigned: true, pageSize: '2M', asid: 1, gpa: 0 })).toBe(RMP_RC.FAIL_OVERLAP);
    });

    it('returns FAIL_OVERLAP before FAIL_PERMISSION when the overlapping entry is immutable', () => {
      const t = new RmpTable(GIB);
      private4K(t, M2 + K4, 0, 0, true);
      expect(t.rmpUpdate(M2, { assigned: false, pageSize: '2M' })).toBe(RMP_RC.FAIL_OVERLAP);
      expect(t.rmpUpdate(2 * M2, { assigned: true, pageSize: '2M', asid: 0, gpa: 0, immutable: true })).toBe(RMP_RC.SUCCESS);
      expect(t.rmpUpdate(2 * M2 + K4, { assigned: false, pageSize: '4K' })).toBe(RMP_RC.FAIL_OVERLAP);
    });

    it('returns FAIL_PERMISSION for an immutable 4 KB or 2 MB entry', () => {
      const t = new RmpTable(GIB);
      private4K(t, K4, 0, 0, true);
      expect(t.rmpUpdate(K4, { assigned: false, pageSize: '4K' })).toBe(RMP_RC.FAIL_PERMISSION);
      expect(t.rmpUpdate(M2, { assigned: true, pageSize: '2M', asid: 0, gpa: 0, immutable: true })).toBe(RMP_RC.SUCCESS);
      expect(t.rmpUpdate(M2, { assigned: false, pageSize: '2M' })).toBe(RMP_RC.FAIL_PERMISSION);
      expect(t.read(K4).raw).toBe(0x5n);
      expect(t.read(M2).raw).toBe(0x7n);
    });

    it('clears Validated and VMSA', () => {
      const t = vectorTable();
      expect(t.rmpUpdate(0x40000000, { assigned: true, pageSize: '2M', asid: 5, gpa: 0x40000000 })).toBe(RMP_RC.SUCCESS);
      expect(t.read(0x40000000).validated).toBe(false);
      t.setState({ sizeBytes: t.sizeBytes, entries: [{ spa: K4, pageSize: '4K', count: 1, assigned: true, immutable: false, validated: true, vmsa: true, asid: 3, gpa: 0 }] });
      expect(t.rmpUpdate(K4, { assigned: true, pageSize: '4K', asid: 3, gpa: 0 })).toBe(RMP_RC.SUCCESS);
      expect(t.read(K4)).toMatchObject({ validated: false, vmsa: false, assigned: true });
    });

    it('makes an unassigned entry all zero except PageSize', () => {
      const t = new RmpTable(GIB);
      private4K(t, K4, 9, 0x7000);
      expect(t.rmpUpdate(K4, { assigned: false, pageSize: '4K' })).toBe(RMP_RC.SUCCESS);
      expect(t.read(K4).raw).toBe(0n);
      expect([...t.regions()]).toEqual([]);
    });

    it('replaces a whole region with one 2 MB entry, dropping unassigned 4 KB detail', () => {
      const t = new RmpTable(GIB);
      private4K(t, M2 + K4, 1, 0);
      expect(t.rmpUpdate(M2 + K4, { assigned: false, pageSize: '4K' })).toBe(RMP_RC.SUCCESS);
      expect(t.rmpUpdate(M2, { assigned: true, pageSize: '2M', asid: 2, gpa: 4 * M2 })).toBe(RMP_RC.SUCCESS);
      expect(t.read(M2 + 5 * K4)).toMatchObject({ entrySpa: M2, pageSize: '2M', asid: 2, gpa: 4 * M2 });
      expect(t.isRegionSmashed(1)).toBe(false);
      expect(t.assignedPageCount()).toBe(512);
    });

    it('turns an unassigned 2 MB entry into 512 4 KB entries on a 4 KB update inside it', () => {
      const t = new RmpTable(GIB);
      expect(t.rmpUpdate(M2, { assigned: false, pageSize: '2M' })).toBe(RMP_RC.SUCCESS);
      private4K(t, M2 + 3 * K4, 1, 0x5000);
      expect(t.read(M2)).toMatchObject({ pageSize: '4K', assigned: false, raw: 0n });
      expect(t.read(M2 + 3 * K4)).toMatchObject({ entrySpa: M2 + 3 * K4, pageSize: '4K', assigned: true, asid: 1, gpa: 0x5000 });
    });
  });

  describe('psmash', () => {
    it('splits the vectors 2 MB entry into the expected 4 KB raws', () => {
      const t = vectorTable();
      expect(t.psmash(0x40000000)).toBe(RMP_RC.SUCCESS);
      expect(t.read(0x40000000).raw).toBe(raw('after PSMASH of the 2M page above: 4K entry 0'));
      expect(t.read(0x40001000).raw).toBe(raw('after PSMASH of the 2M page above: 4K entry 1'));
      expect(t.read(0x401ff000).raw).toBe(raw('after PSMASH of the 2M page above: 4K entry 511'));
      expect(t.read(0x401ff000).entrySpa).toBe(0x401ff000);
      expect(t.isRegionSmashed(0x40000000 / M2)).toBe(true);
      expect(t.assignedPageCount()).toBe(512);
    });

    it('keeps Immutable and drops VMSA (hardware.md §1.4)', () => {
      const t = new RmpTable(GIB);
      t.setState({ sizeBytes: GIB, entries: [{ spa: M2, pageSize: '2M', count: 1, assigned: true, immutable: true, validated: false, vmsa: true, asid: 0, gpa: 0 }] });
      expect(t.psmash(M2)).toBe(RMP_RC.SUCCESS);
      expect(t.read(M2 + K4)).toMatchObject({ immutable: true, vmsa: false, gpa: K4 });
    });

    it('returns FAIL_INPUT for an SPA that is not 2 MB aligned', () => {
      expect(vectorTable().psmash(0x40001000)).toBe(RMP_RC.FAIL_INPUT);
    });

    it('returns FAIL_BADADDR for an unassigned 2 MB entry, 4 KB entries, or untouched memory', () => {
      const t = vectorTable();
      expect(t.rmpUpdate(0, { assigned: false, pageSize: '2M' })).toBe(RMP_RC.SUCCESS);
      expect(t.psmash(0)).toBe(RMP_RC.FAIL_BADADDR);
      expect(t.psmash(M2)).toBe(RMP_RC.FAIL_BADADDR);
      expect(t.psmash(0x40000000)).toBe(RMP_RC.SUCCESS);
      expect(t.psmash(0x40000000)).toBe(RMP_RC.FAIL_BADADDR);
    });
  });

  describe('pvalidate', () => {
    it('validates a 2 MB entry with a 2 MB request, then reports noUpdate on a repeat', () => {
      const t = vectorTable();
      expect(t.read(0x40000000).validated).toBe(true);
      expect(t.pvalidate(0x40000000, { asid: 5, gpa: 0x40000000, pageSize: '2M', validate: true })).toEqual({ rc: 0, noUpdate: true });
      expect(t.pvalidate(0x40000000, { asid: 5, gpa: 0x40000000, pageSize: '2M', validate: false })).toEqual({ rc: 0 });
      expect(t.read(0x40000000).validated).toBe(false);
    });

    it('validates one 4 KB entry after PSMASH', () => {
      const t = vectorTable();
      t.psmash(0x40000000);
      expect(t.pvalidate(0x40002000, { asid: 5, gpa: 0x40002000, pageSize: '4K', validate: false })).toEqual({ rc: 0 });
      expect(t.read(0x40002000).validated).toBe(false);
      expect(t.read(0x40003000).validated).toBe(true);
    });

    it('returns FAIL_INPUT for a misaligned SPA or GPA', () => {
      const t = vectorTable();
      expect(t.pvalidate(0x40001000, { asid: 5, gpa: 0x40000000, pageSize: '2M', validate: true })).toEqual({ rc: RMP_RC.FAIL_INPUT });
      expect(t.pvalidate(0x40000000, { asid: 5, gpa: 0x40001000, pageSize: '2M', validate: true })).toEqual({ rc: RMP_RC.FAIL_INPUT });
      expect(t.pvalidate(0x40000000, { asid: 5, gpa: 0x40000010, pageSize: '4K', validate: true })).toEqual({ rc: RMP_RC.FAIL_INPUT });
    });

    it('raises #NPF RMP (0x80000000) for a page not assigned to that ASID at that GPA', () => {
      const t = vectorTable();
      const npf = { npf: { errorCode: 0x80000000n } };
      expect(t.pvalidate(0x40000000, { asid: 6, gpa: 0x40000000, pageSize: '2M', validate: true })).toEqual(npf);
      expect(t.pvalidate(0x40000000, { asid: 5, gpa: 0x40200000, pageSize: '2M', validate: true })).toEqual(npf);
      expect(t.pvalidate(0, { asid: 0, gpa: 0, pageSize: '4K', validate: true })).toEqual(npf);
      // Owner mismatch comes before the size check.
      expect(t.pvalidate(0x40001000, { asid: 6, gpa: 0x40001000, pageSize: '4K', validate: true })).toEqual(npf);
    });

    it('returns FAIL_SIZEMISMATCH for a 2 MB request over 4 KB entries', () => {
      const t = vectorTable();
      t.psmash(0x40000000);
      expect(t.pvalidate(0x40000000, { asid: 5, gpa: 0x40000000, pageSize: '2M', validate: false })).toEqual({ rc: RMP_RC.FAIL_SIZEMISMATCH });
    });

    it('raises #NPF RMP|SIZEM (0x880000000) for a 4 KB request over a 2 MB entry, comparing entry GPA + offset', () => {
      const t = vectorTable();
      expect(t.pvalidate(0x40005000, { asid: 5, gpa: 0x40005000, pageSize: '4K', validate: false })).toEqual({ npf: { errorCode: 0x880000000n } });
      expect(t.read(0x40000000).validated).toBe(true);
    });
  });

  describe('pageUnsmash', () => {
    it('restores the original raw 2 MB entry after PSMASH', () => {
      const t = vectorTable();
      const before = t.getState();
      t.psmash(0x40000000);
      expect(t.canPageUnsmash(0x40000000)).toEqual({ ok: true });
      expect(t.pageUnsmash(0x40000000)).toEqual({ ok: true });
      expect(t.read(0x40000000).raw).toBe(raw('2M private page'));
      expect(t.getState()).toEqual(before);
    });

    it('merges 512 unassigned 4 KB entries into an unassigned 2 MB entry', () => {
      const t = new RmpTable(GIB);
      expect(t.pageUnsmash(M2)).toEqual({ ok: true });
      expect(t.read(M2 + K4)).toMatchObject({ entrySpa: M2, pageSize: '2M', assigned: false, raw: 0x2n });
    });

    const rejections: [string, (t: RmpTable) => void, string, number | undefined][] = [
      [
        'one entry has another ASID',
        (t) => {
          t.rmpUpdate(0x40007000, { assigned: true, pageSize: '4K', asid: 6, gpa: 0x40007000 });
        },
        'mismatch',
        7,
      ],
      [
        'one entry is unassigned',
        (t) => {
          t.rmpUpdate(0x40009000, { assigned: false, pageSize: '4K' });
        },
        'mismatch',
        9,
      ],
      [
        'one entry lost Validated',
        (t) => {
          t.pvalidate(0x40001000, { asid: 5, gpa: 0x40001000, pageSize: '4K', validate: false });
        },
        'mismatch',
        1,
      ],
      [
        'the GPAs are not contiguous',
        (t) => {
          t.rmpUpdate(0x401ff000, { assigned: true, pageSize: '4K', asid: 5, gpa: 0x7000 });
          t.pvalidate(0x401ff000, { asid: 5, gpa: 0x7000, pageSize: '4K', validate: true });
        },
        'mismatch',
        511,
      ],
    ];
    for (const [what, mutate, reason, index] of rejections) {
      it(`rejects a region where ${what}, changing nothing`, () => {
        const t = vectorTable();
        t.psmash(0x40000000);
        mutate(t);
        const before = t.getState();
        const r = t.pageUnsmash(0x40000000);
        expect(r).toMatchObject({ ok: false, reason, index });
        expect(t.getState()).toEqual(before);
      });
    }

    it('rejects 4 KB entries whose first GPA is not 2 MB aligned', () => {
      const t = new RmpTable(GIB);
      t.setState({ sizeBytes: GIB, entries: [{ spa: M2, pageSize: '4K', count: 512, assigned: true, immutable: false, validated: false, vmsa: false, asid: 1, gpa: K4 }] });
      expect(t.pageUnsmash(M2)).toMatchObject({ ok: false, reason: 'mismatch', index: 0 });
    });

    it('rejects VMSA pages', () => {
      const t = new RmpTable(GIB);
      t.setState({
        sizeBytes: GIB,
        entries: [
          { spa: M2, pageSize: '4K', count: 3, assigned: true, immutable: false, validated: false, vmsa: false, asid: 1, gpa: 0 },
          { spa: M2 + 3 * K4, pageSize: '4K', count: 1, assigned: true, immutable: false, validated: false, vmsa: true, asid: 1, gpa: 3 * K4 },
          { spa: M2 + 4 * K4, pageSize: '4K', count: 508, assigned: true, immutable: false, validated: false, vmsa: false, asid: 1, gpa: 4 * K4 },
        ],
      });
      expect(t.pageUnsmash(M2)).toMatchObject({ ok: false, reason: 'mismatch', index: 3 });
    });

    it('rejects a misaligned SPA and a region that is already 2 MB', () => {
      const t = vectorTable();
      expect(t.pageUnsmash(0x40001000)).toMatchObject({ ok: false, reason: 'misaligned' });
      expect(t.pageUnsmash(0x40000000)).toMatchObject({ ok: false, reason: 'already-2m' });
      expect(t.read(0x40000000).raw).toBe(raw('2M private page'));
    });
  });

  describe('onChange', () => {
    it('reports every successful change and nothing else', () => {
      const t = new RmpTable(GIB);
      const seen: RmpChange[] = [];
      t.onChange = (c) => seen.push(c);
      t.rmpUpdate(M2, { assigned: true, pageSize: '2M', asid: 1, gpa: 0 });
      t.rmpUpdate(M2 + K4, { assigned: false, pageSize: '4K' }); // FAIL_OVERLAP
      t.pvalidate(M2, { asid: 1, gpa: 0, pageSize: '2M', validate: true });
      t.pvalidate(M2, { asid: 1, gpa: 0, pageSize: '2M', validate: true }); // noUpdate
      t.psmash(M2);
      t.pageUnsmash(M2);
      expect(seen).toEqual([
        { op: 'rmpupdate', spa: M2, pageSize: '2M' },
        { op: 'pvalidate', spa: M2, pageSize: '2M' },
        { op: 'psmash', spa: M2, pageSize: '2M' },
        { op: 'unsmash', spa: M2, pageSize: '2M' },
      ]);
    });
  });

  describe('hot-path accessors', () => {
    it('answer isAssigned, the authoritative size and the entry fields by PFN', () => {
      const t = vectorTable();
      private4K(t, 0x1000, 3, 0x9000);
      const pfn = 0x40000 + 7;
      expect(t.isAssigned(pfn)).toBe(true);
      expect(t.isAssigned(1)).toBe(true);
      expect(t.isAssigned(2)).toBe(false);
      expect(t.isAssigned(t.pageCount)).toBe(false);
      expect(t.authoritativePageSizeLg2(pfn)).toBe(21);
      expect(t.authoritativePageSizeLg2(1)).toBe(12);
      const s = t.readEntryInto(pfn, newRmpScratch());
      expect(s).toEqual({ entryPfn: 0x40000, pageSizeLg2: 21, assigned: true, immutable: false, validated: true, vmsa: false, asid: 5, gpaPfn: 0x40000, pageGpaPfn: 0x40007 });
      expect(t.readEntryInto(1, s)).toMatchObject({ entryPfn: 1, pageSizeLg2: 12, asid: 3, gpaPfn: 9, pageGpaPfn: 9 });
    });

    it('finds assigned pages in a range, across regions and GiB chunks', () => {
      const t = new RmpTable(8 * GIB);
      private4K(t, 5 * GIB + 3 * M2 + 17 * K4, 1, 0);
      const target = (5 * GIB + 3 * M2) / K4 + 17;
      expect(t.anyAssignedIn(0, t.pageCount)).toBe(true);
      expect(t.anyAssignedIn(target, 1)).toBe(true);
      expect(t.anyAssignedIn(target + 1, 600)).toBe(false);
      expect(t.anyAssignedIn(target - 17, 17)).toBe(false);
      expect(t.anyAssignedIn(target - 600, 601)).toBe(true);
      expect(t.anyAssignedIn(0, (5 * GIB) / K4)).toBe(false);
      expect(t.anyAssignedIn(t.pageCount - 10, 1000)).toBe(false);
      t.rmpUpdate(7 * GIB, { assigned: true, pageSize: '2M', asid: 1, gpa: 0 });
      expect(t.anyAssignedIn((7 * GIB) / K4 + 511, 1)).toBe(true);
      expect(t.anyAssignedIn((7 * GIB) / K4 + 512, 512)).toBe(false);
    });

    it('lists the non-default regions and which of them hold 4 KB entries', () => {
      const t = vectorTable();
      private4K(t, 3 * M2 + K4, 1, 0);
      t.rmpUpdate(2 * GIB, { assigned: false, pageSize: '2M' });
      expect([...t.regions()]).toEqual([3, 0x40000000 / M2, (2 * GIB) / M2]);
      expect(t.isRegionSmashed(3)).toBe(true);
      expect(t.isRegionSmashed(0x40000000 / M2)).toBe(false);
      expect(t.isRegionSmashed((2 * GIB) / M2)).toBe(false);
      expect(t.isRegionSmashed(4)).toBe(false);
    });
  });
});

describe('Hypervisor-Fixed 4 KB pages (Assigned 0, Immutable 1)', () => {
  it('RMPUPDATE makes one; it then refuses every change (FAIL_PERMISSION) and a 2 MB update over its region; the state round-trips', () => {
    const t = new RmpTable(2 ** 32);
    const spa = 0x4000_3000;
    expect(t.rmpUpdate(spa, { assigned: false, pageSize: '4K', immutable: true })).toBe(RMP_RC.SUCCESS);
    expect(t.read(spa)).toMatchObject({ assigned: false, immutable: true, pageSize: '4K' });
    expect(t.read(spa).raw).toBe(0x4n); // Immutable (bit 2) alone
    expect(t.rmpUpdate(spa, { assigned: true, pageSize: '4K', asid: 1, gpa: 0 })).toBe(RMP_RC.FAIL_PERMISSION);
    expect(t.rmpUpdate(spa, { assigned: false, pageSize: '4K' })).toBe(RMP_RC.FAIL_PERMISSION);
    expect(t.rmpUpdate(0x4000_0000, { assigned: true, pageSize: '2M', asid: 1, gpa: 0 })).toBe(RMP_RC.FAIL_PERMISSION);
    expect(t.rmpUpdate(0x4000_0000, { assigned: false, pageSize: '2M', immutable: true })).toBe(RMP_RC.FAIL_INPUT);
    const copy = new RmpTable(2 ** 32);
    copy.setState(JSON.parse(JSON.stringify(t.getState())));
    expect(copy.read(spa)).toEqual(t.read(spa));
    expect(t.clone().read(spa).immutable).toBe(true);
  });
});

describe('Hypervisor-Fixed pages and their 2 MB regions', () => {
  it('refuse a 2 MB RMPUPDATE only in the region that holds one, also in a clone and after a state reload', () => {
    const t = new RmpTable(GIB);
    expect(t.rmpUpdate(3 * M2 + 5 * K4, { assigned: false, pageSize: '4K', immutable: true })).toBe(RMP_RC.SUCCESS);
    const reloaded = new RmpTable(GIB);
    reloaded.setState(JSON.parse(JSON.stringify(t.getState())));
    for (const table of [t, t.clone(), reloaded]) {
      expect(table.rmpUpdate(3 * M2, { assigned: true, pageSize: '2M', asid: 1, gpa: 0 })).toBe(RMP_RC.FAIL_PERMISSION);
      expect(table.rmpUpdate(2 * M2, { assigned: true, pageSize: '2M', asid: 1, gpa: 0 })).toBe(RMP_RC.SUCCESS);
      expect(table.rmpUpdate(4 * M2, { assigned: true, pageSize: '2M', asid: 1, gpa: M2 })).toBe(RMP_RC.SUCCESS);
    }
  });
});

describe('region scans of PSMASH_IO check 9 (firstForeignAssigned, firstBrokenRun)', () => {
  /** The same answers from the entries one at a time, as readEntryInto decodes them. */
  function reference(t: RmpTable, region: number, asid: number): { foreign: number; broken: number } {
    const e = newRmpScratch();
    let foreign = -1;
    for (let k = 0; k < 512 && foreign < 0; k++) if (t.readEntryInto(region * 512 + k, e).assigned && e.asid !== asid) foreign = k;
    let broken = -1;
    let base: number | undefined;
    for (let k = 0; k < 512 && broken < 0; k++) {
      t.readEntryInto(region * 512 + k, e);
      if (e.immutable) broken = k;
      else if (e.assigned) {
        base ??= e.gpaPfn - k;
        if (e.gpaPfn - k !== base) broken = k;
      }
    }
    return { foreign, broken };
  }

  it('agree with a per-entry decode on random regions of 4 KB entries (fixed pages, other ASIDs, GPA breaks, immutable)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ k: fc.nat(511), kind: fc.constantFrom('own', 'other', 'gpa', 'immutable', 'fixed', 'unassign'), gpaShift: fc.integer({ min: -3, max: 3 }) }), { maxLength: 12 }),
        fc.boolean(),
        (ops, startSmashed) => {
          const t = new RmpTable(64 * M2);
          const region = 5;
          const spa = region * M2;
          if (startSmashed) {
            t.rmpUpdate(spa, { assigned: true, pageSize: '2M', asid: 1, gpa: 0x40_0000 });
            t.psmash(spa);
          }
          for (const op of ops) {
            const at = spa + op.k * K4;
            const gpa = 0x40_0000 + op.k * K4;
            if (op.kind === 'own') t.rmpUpdate(at, { assigned: true, pageSize: '4K', asid: 1, gpa });
            else if (op.kind === 'other') t.rmpUpdate(at, { assigned: true, pageSize: '4K', asid: 2, gpa });
            else if (op.kind === 'gpa') t.rmpUpdate(at, { assigned: true, pageSize: '4K', asid: 1, gpa: Math.max(0, gpa + op.gpaShift * K4) });
            else if (op.kind === 'immutable') t.rmpUpdate(at, { assigned: true, pageSize: '4K', asid: 1, gpa, immutable: true });
            else if (op.kind === 'fixed') t.rmpUpdate(at, { assigned: false, pageSize: '4K', immutable: true });
            else t.rmpUpdate(at, { assigned: false, pageSize: '4K' });
          }
          const want = reference(t, region, 1);
          expect({ foreign: t.firstForeignAssigned(region, 1), broken: t.firstBrokenRun(region) }).toEqual(want);
        },
      ),
      { numRuns: runs(300) },
    );
  });

  it('find nothing in an untouched region, and the first assigned entry sets the run at GPA 0 too', () => {
    const t = new RmpTable(64 * M2);
    expect(t.firstForeignAssigned(3, 1)).toBe(-1);
    expect(t.firstBrokenRun(3)).toBe(-1);
    // Entry 4 at GPA 0 starts a run whose base is -4 pages; entry 6 at GPA 0x2000 continues it.
    private4K(t, 3 * M2 + 4 * K4, 1, 0);
    private4K(t, 3 * M2 + 6 * K4, 1, 0x2000);
    expect(t.firstBrokenRun(3)).toBe(-1);
    private4K(t, 3 * M2 + 9 * K4, 1, 0x2000);
    expect(t.firstBrokenRun(3)).toBe(9);
  });
});
