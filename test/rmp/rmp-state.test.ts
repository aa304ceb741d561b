import { describe, expect, it } from 'vitest';
import { RMP_RC } from '../../src/rmp/return-codes.js';
import type { RmpStateRecord } from '../../src/rmp/rmp-state.js';
import { RmpTable } from '../../src/rmp/rmp-table.js';
import { ERROR_CODES } from '../../src/util/emu-error.js';

const K4 = 0x1000;
const M2 = 0x200000;
const GIB = 2 ** 30;
const TIB = 2 ** 40;

function mixedTable(): RmpTable {
  const t = new RmpTable(4 * GIB);
  for (let r = 0; r < 8; r++) t.rmpUpdate(GIB + r * M2, { assigned: true, pageSize: '2M', asid: 1, gpa: r * M2 });
  t.pvalidate(GIB + 2 * M2, { asid: 1, gpa: 2 * M2, pageSize: '2M', validate: true });
  t.psmash(GIB + 5 * M2);
  t.pvalidate(GIB + 5 * M2 + 9 * K4, { asid: 1, gpa: 5 * M2 + 9 * K4, pageSize: '4K', validate: true });
  t.rmpUpdate(3 * M2, { assigned: false, pageSize: '2M' });
  t.rmpUpdate(4 * M2, { assigned: false, pageSize: '2M' });
  t.rmpUpdate(K4, { assigned: true, pageSize: '4K', asid: 0, gpa: 0, immutable: true });
  return t;
}

/** Every page's read(), for comparing two tables page by page over the used part. */
function snapshotReads(t: RmpTable, fromSpa: number, toSpa: number): bigint[] {
  const out: bigint[] = [];
  for (let spa = fromSpa; spa < toSpa; spa += K4) out.push(t.read(spa).raw);
  return out;
}

const goodRecord: RmpStateRecord = { spa: M2, pageSize: '2M', count: 1, assigned: true, immutable: false, validated: false, vmsa: false, asid: 1, gpa: 0 };

describe('RmpTable state', () => {
  it('collapses runs of equal entries and round-trips exactly', () => {
    const t = mixedTable();
    const state = t.getState();
    expect(state.entries.map((e) => [e.spa, e.pageSize, e.count])).toEqual([
      [K4, '4K', 1],
      [3 * M2, '2M', 2],
      [GIB, '2M', 2],
      [GIB + 2 * M2, '2M', 1],
      [GIB + 3 * M2, '2M', 2],
      [GIB + 5 * M2, '4K', 9],
      [GIB + 5 * M2 + 9 * K4, '4K', 1],
      [GIB + 5 * M2 + 10 * K4, '4K', 502],
      [GIB + 6 * M2, '2M', 2],
    ]);
    const u = new RmpTable(4 * GIB);
    u.setState(JSON.parse(JSON.stringify(state)));
    expect(u.getState()).toEqual(state);
    expect(u.assignedPageCount()).toBe(t.assignedPageCount());
    expect(snapshotReads(u, GIB, GIB + 8 * M2)).toEqual(snapshotReads(t, GIB, GIB + 8 * M2));
    expect(u.read(K4).raw).toBe(0x5n);
  });

  it('keeps a 1 TiB guest of 2 MB pages as one run record', () => {
    const t = new RmpTable(2 * TIB);
    const regions = TIB / M2;
    for (let r = 0; r < regions; r++) {
      if (t.rmpUpdate(TIB + r * M2, { assigned: true, pageSize: '2M', asid: 1, gpa: r * M2 }) !== RMP_RC.SUCCESS) throw new Error(`region ${r}`);
    }
    expect(regions).toBe(524_288);
    const state = t.getState();
    expect(state.entries).toEqual([{ ...goodRecord, spa: TIB, count: regions, gpa: 0 }]);
    expect(JSON.stringify(state).length).toBeLessThan(10_000);
    expect(t.assignedPageCount()).toBe(TIB / K4);

    const u = new RmpTable(2 * TIB);
    u.setState(state);
    expect(u.getState()).toEqual(state);
    expect(u.read(TIB + TIB - 1)).toMatchObject({ entrySpa: 2 * TIB - M2, gpa: TIB - M2, asid: 1, pageSize: '2M' });
    expect(u.anyAssignedIn(0, TIB / K4)).toBe(false);
  });

  it('clone() is independent of the original', () => {
    const t = mixedTable();
    const c = t.clone();
    const before = t.getState();
    c.psmash(GIB);
    c.rmpUpdate(GIB + 5 * M2, { assigned: false, pageSize: '4K' });
    expect(t.getState()).toEqual(before);
    expect(c.getState()).not.toEqual(before);
  });

  const hostile: [string, unknown][] = [
    ['null', null],
    ['an array', []],
    ['a wrong sizeBytes', { sizeBytes: GIB, entries: [] }],
    ['an unknown top-level key', { sizeBytes: 4 * GIB, entries: [], extra: 1 }],
    ['entries not an array', { sizeBytes: 4 * GIB, entries: {} }],
    ['a record that is not an object', [7]],
    ['an unknown record key', [{ ...goodRecord, owner: 1 }]],
    ['a bad pageSize', [{ ...goodRecord, pageSize: '1G' }]],
    ['a string boolean', [{ ...goodRecord, validated: 'yes' }]],
    ['a misaligned spa', [{ ...goodRecord, spa: K4 }]],
    ['a negative spa', [{ ...goodRecord, spa: -M2 }]],
    ['a zero count', [{ ...goodRecord, count: 0 }]],
    ['a fractional count', [{ ...goodRecord, count: 1.5 }]],
    ['a run past the end of memory', [{ ...goodRecord, count: 2048 }]],
    ['an ASID of 1024', [{ ...goodRecord, asid: 1024 }]],
    ['a string gpa', [{ ...goodRecord, gpa: '0x0' }]],
    ['a 2 MB gpa not 2 MB aligned', [{ ...goodRecord, gpa: K4 }]],
    ['a run whose GPA passes 2^51', [{ ...goodRecord, gpa: 2 ** 51 - M2, count: 2 }]],
    ['an unassigned 4 KB record', [{ ...goodRecord, pageSize: '4K', assigned: false, asid: 0 }]],
    ['an unassigned 2 MB record with an ASID', [{ ...goodRecord, assigned: false }]],
    ['overlapping records', [goodRecord, { ...goodRecord, pageSize: '4K', spa: M2 + K4 }]],
    ['descending records', [{ ...goodRecord, spa: 2 * M2 }, goodRecord]],
  ];
  for (const [what, input] of hostile) {
    it(`setState rejects ${what} with BAD_DOCUMENT and leaves the table unchanged`, () => {
      const t = mixedTable();
      const before = t.getState();
      const doc = Array.isArray(input) && input.length > 0 ? { sizeBytes: 4 * GIB, entries: input } : input;
      expect(() => t.setState(doc)).toThrow(expect.objectContaining({ code: ERROR_CODES.BAD_DOCUMENT }));
      expect(t.getState()).toEqual(before);
      expect(t.read(GIB + 5 * M2 + 9 * K4).validated).toBe(true);
    });
  }

  it('setState names the offending field', () => {
    const t = new RmpTable(4 * GIB);
    expect(() => t.setState({ sizeBytes: 4 * GIB, entries: [goodRecord, { ...goodRecord, spa: 4 * M2, asid: 5000 }] })).toThrow(/entries\[1\]\.asid/);
  });
});
