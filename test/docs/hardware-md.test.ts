/**
 * src/'s code tables and PTE decoder against docs/hardware.md, as the tests'
 * references read it (test/helpers/spec.ts): the models and reference walks use the
 * spec side only, so a wrong number in src/ shows here and in them, never in both.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NPF_ERROR, RMP_RC } from '../../src/rmp/return-codes.js';
import { FW_STATUS } from '../../src/firmware/status.js';
import { decodePte, levelIndex } from '../../src/iommu/pte.js';
import { runs } from '../helpers/fc-seed.js';
import { SPEC_FW_STATUS, SPEC_NPF, SPEC_RMP_RC, specLevelIndex, specPte } from '../helpers/spec.js';

describe('code tables against hardware.md', () => {
  it('RMP return codes (§1.4-§1.6) are the spec numbers', () => {
    expect({ ...RMP_RC }).toEqual(SPEC_RMP_RC);
  });

  it('PVALIDATE #NPF error-code bits (§1.6): RMP bit 31, SIZEM bit 35', () => {
    expect(NPF_ERROR.RMP).toBe(SPEC_NPF.RMP);
    expect(NPF_ERROR.SIZEM).toBe(SPEC_NPF.SIZEM);
  });

  it('the SEV firmware statuses hardware.md §2.3 lists have their numbers', () => {
    for (const [name, code] of Object.entries(SPEC_FW_STATUS)) expect((FW_STATUS as Record<string, number>)[name], name).toBe(code);
  });
});

describe('PTE decoding against hardware.md §3.1-§3.3', () => {
  const value = fc.oneof(
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    // Leaves with runs of size ones (NL=7) and table pointers, the shapes the walker meets.
    fc
      .record({ pa: fc.bigInt({ min: 0n, max: 2n ** 40n - 1n }), nl: fc.integer({ min: 0, max: 7 }), ones: fc.integer({ min: 0, max: 40 }), hi: fc.bigInt({ min: 0n, max: 2n ** 12n - 1n }) })
      .map(({ pa, nl, ones, hi }) => ((pa << 12n) & 0x000f_ffff_ffff_f000n) | (((1n << BigInt(ones)) - 1n) << 12n) | (BigInt(nl) << 9n) | (hi << 52n) | 1n),
  );

  it('decodePte reads every field as the spec says, at every level, with and without a C-bit', () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 1, max: 6 }), fc.constantFrom<number | null>(null, 51, 47, 40), (v, level, cBit) => {
        const want = specPte(v, level, cBit);
        const got = decodePte(v, level, cBit);
        expect({ present: got.present, nextLevel: got.nextLevel, read: got.read, write: got.write, fc: got.fc, leaf: got.leaf }).toEqual({
          present: want.present,
          nextLevel: want.nextLevel,
          read: want.read,
          write: want.write,
          fc: want.fc,
          leaf: want.leaf,
        });
        if (want.leaf) expect({ pa: got.pa, sizeLg2: got.sizeLg2 }).toEqual({ pa: want.pa, sizeLg2: want.sizeLg2 });
        else expect(got.table).toBe(want.table);
      }),
      { numRuns: runs(3000) },
    );
  });

  it('levelIndex takes the IOVA bits §3.2 gives each level', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: 1, max: 6 }), (iova, level) => {
        expect(levelIndex(iova, level)).toBe(specLevelIndex(iova, level));
      }),
      { numRuns: runs(2000) },
    );
  });
});
