import { describe, expect, it } from 'vitest';
import { decodeRmpRaw, encodeRmpRaw, rmpEntryOffset, type RmpEntry } from '../../src/rmp/rmp-entry.js';
import { NPF_ERROR, RMP_RC, rmpRcName } from '../../src/rmp/return-codes.js';
import { EmuError } from '../../src/util/emu-error.js';
import { loadVectors } from '../helpers/vectors.js';

interface RmpVector {
  name: string;
  raw: string;
  entryOffsetFromRmpBase?: string;
}

const vectors = loadVectors<RmpVector>('rmp-raw').vectors;
const byName = (prefix: string): RmpVector => {
  const v = vectors.find((x) => x.name.startsWith(prefix));
  if (v === undefined) throw new Error(`no vector ${prefix}`);
  return v;
};

// The decoded meaning of each rmp-raw.json vector, read off hardware.md §1.2 by hand.
const private2M: RmpEntry = { assigned: true, pageSize: '2M', immutable: false, validated: true, vmsa: false, asid: 5, gpa: 0x40000000 };
const smashed = (i: number): RmpEntry => ({ ...private2M, pageSize: '4K', gpa: 0x40000000 + i * 4096 });
const expected: [string, RmpEntry][] = [
  ['2M private page', private2M],
  ['after PSMASH of the 2M page above: 4K entry 0', smashed(0)],
  ['after PSMASH of the 2M page above: 4K entry 1', smashed(1)],
  ['after PSMASH of the 2M page above: 4K entry 511', smashed(511)],
  ['firmware-owned page', { assigned: true, pageSize: '4K', immutable: true, validated: false, vmsa: false, asid: 0, gpa: 0 }],
  ['hypervisor-owned', { assigned: false, pageSize: '4K', immutable: false, validated: false, vmsa: false, asid: 0, gpa: 0 }],
];

describe('rmp-entry', () => {
  it('covers every rmp-raw.json vector', () => {
    expect(expected.length).toBe(vectors.length);
  });

  for (const [prefix, entry] of expected) {
    it(`encodes and decodes "${prefix}" bit-exactly`, () => {
      const raw = BigInt(byName(prefix).raw);
      expect(encodeRmpRaw(entry)).toBe(raw);
      expect(decodeRmpRaw(raw)).toEqual(entry);
    });
  }

  it('places the entry of PFN 0x40000 at RMP_BASE + 0x404000', () => {
    const v = byName('2M private page');
    expect(rmpEntryOffset(0x40000)).toBe(Number(v.entryOffsetFromRmpBase));
    expect(rmpEntryOffset(0)).toBe(0x4000);
  });

  it('puts VMSA in bit 61 and the top ASID and GPA bits where hardware.md §1.2 says', () => {
    const e: RmpEntry = { assigned: false, pageSize: '4K', immutable: false, validated: false, vmsa: true, asid: 1023, gpa: 2 ** 51 - 4096 };
    expect(encodeRmpRaw(e)).toBe((1n << 61n) | (1023n << 51n) | (((1n << 39n) - 1n) << 12n));
    expect(decodeRmpRaw(encodeRmpRaw(e))).toEqual(e);
  });

  it('ignores the reserved bits 11:3 and 63 when decoding', () => {
    expect(decodeRmpRaw((1n << 63n) | 0xff8n | 1n)).toEqual(decodeRmpRaw(1n));
  });

  it('throws EmuError for an ASID or GPA the entry cannot hold, and for a non-64-bit raw', () => {
    const base: RmpEntry = { assigned: true, pageSize: '4K', immutable: false, validated: false, vmsa: false, asid: 0, gpa: 0 };
    expect(() => encodeRmpRaw({ ...base, asid: 1024 })).toThrow(EmuError);
    expect(() => encodeRmpRaw({ ...base, gpa: 0x800 })).toThrow(EmuError);
    expect(() => encodeRmpRaw({ ...base, gpa: 2 ** 51 })).toThrow(EmuError);
    expect(() => decodeRmpRaw(1n << 64n)).toThrow(EmuError);
    expect(() => decodeRmpRaw(-1n)).toThrow(EmuError);
    expect(() => rmpEntryOffset(-1)).toThrow(EmuError);
  });
});

describe('return-codes', () => {
  it('names every RMP return code and survives unknown ones', () => {
    expect(rmpRcName(RMP_RC.FAIL_OVERLAP)).toBe('FAIL_OVERLAP');
    expect(rmpRcName(7)).toBe('FAIL_BADADDR');
    expect(rmpRcName(5)).toBe('UNKNOWN_0x5');
  });

  it('gives the #NPF error codes of hardware.md §1.6', () => {
    expect(NPF_ERROR.RMP).toBe(0x80000000n);
    expect(NPF_ERROR.RMP | NPF_ERROR.SIZEM).toBe(0x880000000n);
  });
});
