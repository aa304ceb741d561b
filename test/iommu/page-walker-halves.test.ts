import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { HostMemory } from '../../src/memory/host-memory.js';
import { decodeDte, encodeDte, type DecodedDte } from '../../src/iommu/dte.js';
import { PageWalker, type WalkResult } from '../../src/iommu/page-walker.js';
import { addressMask, leafSizeAllowed, levelDefaultSizeLg2, levelIndex, MAX_LEVEL, NL_DEFAULT_LEAF, NL_SIZED_LEAF, PTE_IR, PTE_IW, PTE_PR, pteNextLevel, sizedLeafLg2, stripCBit } from '../../src/iommu/pte.js';

/** PageWalker.walk as it was on bigint entries: the reference the halves walk must equal. */
function referenceWalk(memory: HostMemory, cBit: number | null, dte: DecodedDte, iova: bigint, write: boolean): WalkResult {
  const result: WalkResult = { ok: false, spa: 0, sizeLg2: 0, read: dte.read, write: dte.write, steps: [], levelsRead: 0, leafLevel: 0, leafEntrySpa: -1, leafSpaBase: 0, leafIovaBase: 0n };
  const fail = (reason: NonNullable<WalkResult['fault']>['reason'], present: boolean, permission = false): WalkResult => {
    result.ok = false;
    result.fault = { type: 2, typeName: 'IO_PAGE_FAULT', reason, present, permission };
    return result;
  };
  const addrMask = addressMask(cBit);
  if (!dte.valid || !dte.translationValid) return fail('dte-invalid', false);
  if (dte.mode === 0 || dte.mode === 7) return fail('bad-mode', false);
  const rangeBits = dte.mode === MAX_LEVEL ? 64 : levelDefaultSizeLg2(dte.mode + 1);
  if (iova >> BigInt(rangeBits) !== 0n) return fail('beyond-mode', false);
  let tableSpa = stripCBit(dte.root, cBit);
  for (let level = dte.mode; level >= 1; level--) {
    const entrySpa = tableSpa + levelIndex(iova, level) * 8;
    const value = memory.word(entrySpa);
    result.steps.push({ level, entrySpa, value });
    result.levelsRead++;
    result.leafLevel = level;
    result.leafEntrySpa = entrySpa;
    if ((value & PTE_PR) === 0n) return fail('not-present', false);
    result.read &&= (value & PTE_IR) !== 0n;
    result.write &&= (value & PTE_IW) !== 0n;
    const nextLevel = pteNextLevel(value);
    const addr = value & addrMask;
    if (nextLevel === NL_DEFAULT_LEAF || nextLevel === NL_SIZED_LEAF) {
      const sizeLg2 = nextLevel === NL_DEFAULT_LEAF ? levelDefaultSizeLg2(level) : sizedLeafLg2(addr);
      if (!leafSizeAllowed(level, sizeLg2)) return fail('bad-leaf-size', true);
      const sizeMask = (1n << BigInt(sizeLg2)) - 1n;
      result.sizeLg2 = sizeLg2;
      result.leafSpaBase = Number(addr & ~sizeMask);
      result.leafIovaBase = iova & ~sizeMask;
      result.spa = result.leafSpaBase + Number(iova & sizeMask);
      if (write ? !result.write : !result.read) return fail('permission', true, true);
      result.ok = true;
      return result;
    }
    if (nextLevel !== level - 1) return fail('bad-next-level', true);
    tableSpa = Number(addr);
  }
  return fail('bad-next-level', true);
}

const pageSpa = (k: number): number => 0x10_0000 + k * 4096;

/** What sits in the slot the walk reads at one level. */
const slot = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('next' as const), perm: fc.integer({ min: 0, max: 3 }), cbit: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('leaf0' as const), pa: fc.bigInt({ min: 0n, max: 2n ** 40n - 1n }), perm: fc.integer({ min: 0, max: 7 }), cbit: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('leaf7' as const), pa: fc.bigInt({ min: 0n, max: 2n ** 40n - 1n }), ones: fc.integer({ min: 0, max: 45 }), perm: fc.integer({ min: 0, max: 7 }), cbit: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw' as const), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }) },
);

const iovaArb = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 48n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 39n - 1n }), fc.bigInt({ min: -5n, max: -1n }), fc.constant(2n ** 64n));

describe('PageWalker on halves', () => {
  it('returns exactly what the bigint walk returns, on random tables, IOVAs, modes and C-bits', () => {
    let leaves = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        iovaArb,
        fc.array(slot, { minLength: 6, maxLength: 6 }),
        fc.constantFrom<number | null>(51, null, 40, 20),
        fc.boolean(),
        fc.record({ read: fc.boolean(), write: fc.boolean() }, { noNullPrototype: true }),
        (mode, iova, slots, cBit, write, perms) => {
          const memory = new HostMemory(2 ** 30);
          // Level L's table is pool page 6 - L; the slot for the IOVA gets slots[L - 1].
          for (let level = Math.min(mode, MAX_LEVEL); level >= 1; level--) {
            const s = slots[level - 1];
            if (s === undefined) continue;
            const index = iova >= 0n && iova < 2n ** 64n ? levelIndex(iova, level) : 0;
            const c = 'cbit' in s && s.cbit ? 1n << 51n : 0n;
            let value: bigint;
            if (s.kind === 'next') value = BigInt(pageSpa(6 - (level - 1))) | c | (BigInt(level - 1) << 9n) | (BigInt(s.perm) << 61n) | 1n;
            else if (s.kind === 'leaf0') value = ((s.pa << 12n) & 0x000f_ffff_ffff_f000n) | c | (BigInt(s.perm) << 60n) | 1n;
            else if (s.kind === 'leaf7') value = ((s.pa << 12n) & 0x000f_ffff_ffff_f000n) | (((1n << BigInt(s.ones)) - 1n) << 12n) | c | (7n << 9n) | (BigInt(s.perm) << 60n) | 1n;
            else value = s.value;
            memory.write64(pageSpa(6 - level) + index * 8, value);
          }
          const dte = decodeDte(encodeDte({ valid: true, translationValid: mode !== 0 || perms.read, mode, root: pageSpa(6 - Math.min(Math.max(mode, 1), 6)), read: perms.read, write: perms.write }));
          const got = new PageWalker(memory, cBit).walk(dte, iova, write);
          expect(got).toEqual(referenceWalk(memory, cBit, dte, iova, write));
          if (got.sizeLg2 !== 0) leaves++;
        },
      ),
      { numRuns: runs(5000) },
    );
    // The generator reaches leaves, not just faults on the way.
    expect(leaves).toBeGreaterThan(150);
  });
});
