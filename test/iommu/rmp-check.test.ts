import { describe, expect, it } from 'vitest';
import { RMP_FAULT_FLAGS as F, rmpCheck, rmpFlagsReason, type RmpSizeRule } from '../../src/iommu/rmp-check.js';
import { RmpTable } from '../../src/rmp/rmp-table.js';

const K4 = 0x1000;
const GIB = 2 ** 30;
/** A TEE-IO guest page: 2 MB at SPA 0x40000000 = GPA 0x40000000, ASID 5, validated. */
const BASE_PFN = 0x40000;
const RULES: RmpSizeRule[] = ['equal', 'not-larger'];

function teeTable(): RmpTable {
  const t = new RmpTable(4 * GIB);
  t.rmpUpdate(BASE_PFN * K4, { assigned: true, pageSize: '2M', asid: 5, gpa: BASE_PFN * K4 });
  t.pvalidate(BASE_PFN * K4, { asid: 5, gpa: BASE_PFN * K4, pageSize: '2M', validate: true });
  return t;
}

describe('rmpCheck', () => {
  describe('TEE-IO device (bound ASID)', () => {
    for (const rule of RULES) {
      it(`allows a 2 MB leaf over the matching validated 2 MB entry (${rule})`, () => {
        expect(rmpCheck(teeTable(), BASE_PFN + 7, BASE_PFN + 7, 21, BASE_PFN, 5, rule)).toBe(0);
      });

      it(`returns NOT_ASSIGNED alone for an unassigned page (${rule})`, () => {
        expect(rmpCheck(teeTable(), 0x10, 0x99, 30, 0, 5, rule)).toBe(F.NOT_ASSIGNED);
      });

      it(`returns ASID_MISMATCH for a page of another guest (${rule})`, () => {
        expect(rmpCheck(teeTable(), BASE_PFN, BASE_PFN, 21, BASE_PFN, 6, rule)).toBe(F.ASID_MISMATCH);
      });

      it(`returns GPA_MISMATCH when entry GPA + offset is not the IOVA page (${rule})`, () => {
        expect(rmpCheck(teeTable(), BASE_PFN + 7, BASE_PFN + 8, 21, BASE_PFN, 5, rule)).toBe(F.GPA_MISMATCH);
      });

      it(`returns NOT_VALIDATED for an unvalidated page (${rule})`, () => {
        const t = teeTable();
        t.pvalidate(BASE_PFN * K4, { asid: 5, gpa: BASE_PFN * K4, pageSize: '2M', validate: false });
        expect(rmpCheck(t, BASE_PFN + 1, BASE_PFN + 1, 21, BASE_PFN, 5, rule)).toBe(F.NOT_VALIDATED);
      });

      it(`fails a 2 MB leaf over 4 KB RMP entries and any 1 GB leaf with SIZE_MISMATCH (${rule})`, () => {
        const t = teeTable();
        expect(rmpCheck(t, BASE_PFN + 3, BASE_PFN + 3, 30, 0, 5, rule)).toBe(F.SIZE_MISMATCH);
        t.psmash(BASE_PFN * K4);
        expect(rmpCheck(t, BASE_PFN + 3, BASE_PFN + 3, 21, BASE_PFN, 5, rule)).toBe(F.SIZE_MISMATCH);
        expect(rmpCheck(t, BASE_PFN + 3, BASE_PFN + 3, 14, BASE_PFN, 5, rule)).toBe(F.SIZE_MISMATCH);
        expect(rmpCheck(t, BASE_PFN + 3, BASE_PFN + 3, 12, BASE_PFN + 3, 5, rule)).toBe(0);
      });

      it(`ORs every failing flag (${rule})`, () => {
        const t = teeTable();
        t.pvalidate(BASE_PFN * K4, { asid: 5, gpa: BASE_PFN * K4, pageSize: '2M', validate: false });
        expect(rmpCheck(t, BASE_PFN, 0, 30, 0, 9, rule)).toBe(F.ASID_MISMATCH | F.GPA_MISMATCH | F.NOT_VALIDATED | F.SIZE_MISMATCH);
      });
    }

    it('rule equal fails a smaller leaf (4 KB or an NL=7 16 KB) over a 2 MB entry; not-larger allows it', () => {
      const t = teeTable();
      expect(rmpCheck(t, BASE_PFN + 5, BASE_PFN + 5, 12, BASE_PFN + 5, 5, 'equal')).toBe(F.SIZE_MISMATCH);
      expect(rmpCheck(t, BASE_PFN + 5, BASE_PFN + 5, 14, BASE_PFN + 4, 5, 'equal')).toBe(F.SIZE_MISMATCH);
      expect(rmpCheck(t, BASE_PFN + 5, BASE_PFN + 5, 12, BASE_PFN + 5, 5, 'not-larger')).toBe(0);
      expect(rmpCheck(t, BASE_PFN + 5, BASE_PFN + 5, 14, BASE_PFN + 4, 5, 'not-larger')).toBe(0);
    });
  });

  describe('untrusted device', () => {
    for (const rule of RULES) {
      it(`allows a 4 KB access to a hypervisor page and a large leaf over no assigned page (${rule})`, () => {
        const t = teeTable();
        expect(rmpCheck(t, 0x10, 0x10, 12, 0x10, -1, rule)).toBe(0);
        expect(rmpCheck(t, 0x10, 0x10, 21, 0, -1, rule)).toBe(0);
        expect(rmpCheck(t, 0x10, 0x10, 30, 0, -1, rule)).toBe(0);
      });

      it(`returns ASSIGNED for an access to an assigned page (${rule})`, () => {
        expect(rmpCheck(teeTable(), BASE_PFN + 1, 0, 12, BASE_PFN + 1, -1, rule)).toBe(F.ASSIGNED);
      });

      it(`returns SIZE_MISMATCH for a leaf > 4 KB covering any assigned page, with ASSIGNED when this page is one (${rule})`, () => {
        const t = new RmpTable(4 * GIB);
        t.rmpUpdate(0x200 * K4 + 300 * K4, { assigned: true, pageSize: '4K', asid: 1, gpa: 0 });
        expect(rmpCheck(t, 0x200 + 1, 0, 21, 0x200, -1, rule)).toBe(F.SIZE_MISMATCH);
        expect(rmpCheck(t, 0x200 + 300, 0, 21, 0x200, -1, rule)).toBe(F.SIZE_MISMATCH | F.ASSIGNED);
        expect(rmpCheck(t, 0x200 + 1, 0, 14, 0x200, -1, rule)).toBe(0);
        expect(rmpCheck(t, 0x200 * 3, 0, 30, 0, -1, rule)).toBe(F.SIZE_MISMATCH);
        expect(rmpCheck(t, 0x200 * 3, 0, 21, 0x200 * 3, -1, rule)).toBe(0);
      });
    }
  });
});

describe('rmpFlagsReason', () => {
  it('names each flag of RMP_FAULT_FLAGS in bit order, kebab-case, after rmp:', () => {
    expect(rmpFlagsReason(F.NOT_ASSIGNED)).toBe('rmp:not-assigned');
    expect(rmpFlagsReason(F.ASSIGNED | F.SIZE_MISMATCH)).toBe('rmp:assigned+size-mismatch');
    expect(rmpFlagsReason(F.ASID_MISMATCH | F.GPA_MISMATCH | F.NOT_VALIDATED)).toBe('rmp:asid-mismatch+gpa-mismatch+not-validated');
  });
});
