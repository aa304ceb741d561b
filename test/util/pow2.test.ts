import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { POW2, modPow2 } from '../../src/util/pow2.js';
import { levelIndexPfn, stripCBit } from '../../src/iommu/pte.js';

const safeInt = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 31 }),
  fc.maxSafeInteger().map((x) => Math.abs(x)),
  fc.constantFrom(0, 2 ** 53, 2 ** 53 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 52 + 4095),
);

describe('pow2 (the walk path without pow and fmod)', () => {
  it('POW2[n] is 2 ** n', () => {
    for (let n = 0; n <= 64; n++) expect(POW2[n]).toBe(2 ** n);
  });

  it('modPow2 is % 2 ** lg2 for integers in [0, 2^53], the remainder bigint arithmetic gives', () => {
    fc.assert(
      fc.property(safeInt, fc.integer({ min: 0, max: 64 }), (x, lg2) => {
        const r = modPow2(x, lg2);
        expect(r).toBe(x % 2 ** lg2);
        expect(BigInt(r)).toBe(BigInt(x) % (1n << BigInt(lg2)));
      }),
      { numRuns: runs(5000) },
    );
  });

  it('stripCBit and levelIndexPfn agree with bigint bit arithmetic', () => {
    fc.assert(
      fc.property(safeInt, fc.integer({ min: 12, max: 51 }), fc.integer({ min: 1, max: 6 }), (x, cBit, level) => {
        const spa = x % 2 ** 52;
        const stripped = BigInt(spa) & ~(1n << BigInt(cBit));
        expect(stripCBit(spa, cBit)).toBe(Number(stripped));
        const pfn = Math.floor(spa / 4096) + (x % 2 === 0 ? 0 : 2 ** 39);
        const bits = level === 6 ? 0x7fn : 0x1ffn;
        expect(levelIndexPfn(pfn, level)).toBe(Number((BigInt(pfn) >> BigInt(9 * (level - 1))) & bits));
      }),
      { numRuns: runs(5000) },
    );
  });
});
