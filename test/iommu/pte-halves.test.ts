import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { loadVectors } from '../helpers/vectors.js';
import {
  addrMaskHi,
  addrMaskLo,
  addressMask,
  decodePte,
  decodePteHalves,
  encodeLeaf,
  levelDefaultSizeLg2,
  levelIndex,
  levelIndexPfn,
  leafRunLength,
  pteAddressField,
  pteAddressHalves,
  pteFcHi,
  pteHalves,
  pteLeafSizeLg2,
  pteLeafSizeLg2Halves,
  pteNextLevel,
  pteNextLevelLo,
  ptePresent,
  ptePresentLo,
  pteReadHi,
  pteWriteHi,
  PTE_FC,
  PTE_IR,
  PTE_IW,
  sizedLeafLg2,
  sizedLeafLg2Halves,
  stripCBit,
  withAddress,
  withAddressHi,
  withAddressLo,
} from '../../src/iommu/pte.js';

interface PteVector {
  name: string;
  level: number;
  value: string;
}

const C_BITS: ReadonlyArray<number | null> = [null, 51, 47, 43, 32, 31, 20, 12];
const LEVELS = [1, 2, 3, 4, 5, 6];

/** Every halves decoder against its bigint twin, for one value. */
function expectAgree(value: bigint, level: number, cBit: number | null): void {
  const { lo, hi } = pteHalves(value);
  expect(ptePresentLo(lo)).toBe(ptePresent(value));
  expect(pteNextLevelLo(lo)).toBe(pteNextLevel(value));
  expect(pteReadHi(hi)).toBe((value & PTE_IR) !== 0n);
  expect(pteWriteHi(hi)).toBe((value & PTE_IW) !== 0n);
  expect(pteFcHi(hi)).toBe((value & PTE_FC) !== 0n);
  expect(pteAddressHalves(lo, hi, cBit)).toBe(Number(value & addressMask(cBit)));
  expect(decodePteHalves(lo, hi, level, cBit)).toEqual(decodePte(value, level, cBit));
  const mask = addressMask(cBit);
  expect(pteLeafSizeLg2Halves(lo, hi, level, addrMaskLo(cBit), addrMaskHi(cBit))).toBe(pteLeafSizeLg2(value, level, mask));
  expect(sizedLeafLg2Halves(lo & addrMaskLo(cBit), hi & addrMaskHi(cBit))).toBe(sizedLeafLg2(value & mask));
}

/** 64-bit values biased toward PTE shapes: NL=7 runs of ones, C-bit, permissions. */
const pteValue = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc
    .record({
      top: fc.constantFrom(0n, PTE_IR, PTE_IW, PTE_IR | PTE_IW, PTE_IR | PTE_IW | PTE_FC, 1n << 63n, 1n << 59n),
      nl: fc.integer({ min: 0, max: 7 }),
      ones: fc.integer({ min: 0, max: 41 }),
      base: fc.bigInt({ min: 0n, max: 2n ** 40n - 1n }),
      cbit: fc.boolean(),
      pr: fc.boolean(),
    })
    .map(({ top, nl, ones, base, cbit, pr }) => {
      const run = ((1n << BigInt(ones)) - 1n) << 12n;
      return top | (cbit ? 1n << 51n : 0n) | ((base << 12n) & 0x000f_ffff_ffff_f000n) | run | (BigInt(nl) << 9n) | (pr ? 1n : 0n);
    }),
);

describe('PTE halves decoders (pte.ts, hardware.md §3.1)', () => {
  const { vectors } = loadVectors<PteVector>('iommu-pte');

  it.each(vectors.map((v) => [v.name, v] as const))('agree with decodePte on "%s" for every C-bit', (_name, v) => {
    for (const cBit of C_BITS) expectAgree(BigInt(v.value), v.level, cBit);
  });

  it('agree with decodePte on the vectors with the C-bit (51) set in the address', () => {
    for (const v of vectors) {
      for (const cBit of C_BITS) expectAgree(BigInt(v.value) | (1n << 51n), v.level, cBit);
    }
  });

  it('decode every NL=7 size the levels allow, with and without the C-bit', () => {
    for (let sizeLg2 = 13; sizeLg2 <= 51; sizeLg2++) {
      for (const level of [1, 2, 3, 4, 5]) {
        if (sizeLg2 <= levelDefaultSizeLg2(level) || sizeLg2 > levelDefaultSizeLg2(level) + 8 || sizeLg2 === 39) continue;
        const value = encodeLeaf({ pa: 2 ** sizeLg2, sizeLg2, level, read: true, write: true, fc: false });
        for (const cBit of C_BITS) {
          expectAgree(value, level, cBit);
          expectAgree(value | (1n << 51n), level, cBit);
        }
      }
    }
  });

  it('decode an address field of all ones (NL=7) as 2^53, and as 2^52 with the C-bit at 51 stripped', () => {
    const value = 0x000f_ffff_ffff_fe01n; // PR, NL=7, bits 51:12 all ones
    const { lo, hi } = pteHalves(value);
    expect(sizedLeafLg2Halves(lo & addrMaskLo(null), hi & addrMaskHi(null))).toBe(53);
    expect(decodePteHalves(lo, hi, 5, 51).sizeLg2).toBe(52);
    for (const cBit of C_BITS) for (const level of LEVELS) expectAgree(value, level, cBit);
  });

  it('agree with decodePte on random values at every level and C-bit', () => {
    fc.assert(
      fc.property(pteValue, fc.constantFrom(...LEVELS), fc.constantFrom(...C_BITS), (value, level, cBit) => {
        expectAgree(value, level, cBit);
      }),
      { numRuns: runs(3000) },
    );
  });

  it('build the halves of withAddress for any address', () => {
    fc.assert(
      fc.property(pteValue, fc.integer({ min: 0, max: 2 ** 52 - 1 }), (value, spa) => {
        const { lo, hi } = pteHalves(value);
        expect({ lo: withAddressLo(lo, spa), hi: withAddressHi(hi, spa) }).toEqual(pteHalves(withAddress(value, spa)));
        // The smash engine's expected PTE i: the address field plus i x 4 KB.
        const advanced = pteAddressField(value) + 511 * 4096;
        expect({ lo: withAddressLo(lo, advanced), hi: withAddressHi(hi, advanced) }).toEqual(pteHalves(withAddress(value, advanced)));
      }),
      { numRuns: runs(2000) },
    );
  });

  it('index tables from the IOVA page number and strip the C-bit from numbers as the bigint forms do', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: 0, max: 2 ** 52 - 1 }), fc.constantFrom(...C_BITS), (iova, spa, cBit) => {
        for (const level of LEVELS) expect(levelIndexPfn(Number(iova >> 12n), level)).toBe(levelIndex(iova, level));
        expect(stripCBit(spa, cBit)).toBe(Number(BigInt(spa) & (cBit === null ? 2n ** 64n - 1n : ~(1n << BigInt(cBit)))));
      }),
      { numRuns: runs(2000) },
    );
  });
});

describe('leafRunLength (PSMASH_IO check 10 good prefix)', () => {
  /** The same count from the bigint decoders, one entry at a time. */
  function reference(words: bigint[], firstAddr: number, high: bigint): number {
    for (let i = 0; i < words.length; i++) {
      const w = words[i] as bigint;
      if (!ptePresent(w) || pteNextLevel(w) !== 0 || pteAddressField(w) !== firstAddr + i * 4096 || w >> 52n !== high) return i;
    }
    return words.length;
  }

  it('agrees with the bigint decoders on runs broken anywhere, by any field, across the 4 GiB boundary', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 - 1 }).map((p) => p * 4096),
        fc.bigInt({ min: 0n, max: 0xfffn }),
        fc.integer({ min: 0, max: 40 }),
        fc.constantFrom('none', 'pr', 'nextLevel', 'address', 'high', 'low bits'),
        (firstAddr, high, breakAt, how) => {
          const words: bigint[] = [];
          for (let i = 0; i < 40; i++) words.push((high << 52n) | BigInt(firstAddr + i * 4096) | 1n);
          if (breakAt < 40) {
            const w = words[breakAt] as bigint;
            words[breakAt] = how === 'pr' ? w & ~1n : how === 'nextLevel' ? w | (2n << 9n) : how === 'address' ? w + 0x1000n : how === 'high' ? w ^ (1n << 60n) : how === 'low bits' ? w | (1n << 5n) : w;
          }
          const view = new Uint32Array(words.length * 2);
          words.forEach((w, i) => {
            view[2 * i] = Number(w & 0xffff_ffffn);
            view[2 * i + 1] = Number(w >> 32n);
          });
          expect(leafRunLength(view, firstAddr, Number(high), words.length)).toBe(reference(words, firstAddr, high));
        },
      ),
      { numRuns: runs(500) },
    );
    // A run that crosses 2^32: the address carries into bits 51:32.
    const first = 2 ** 32 - 2 * 4096;
    const view = new Uint32Array(8);
    for (let i = 0; i < 4; i++) {
      const w = BigInt(first + i * 4096) | 1n;
      view[2 * i] = Number(w & 0xffff_ffffn);
      view[2 * i + 1] = Number(w >> 32n);
    }
    expect(leafRunLength(view, first, 0, 4)).toBe(4);
  });
});
