import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { SeededRng } from '../../src/util/rng.js';
import { jumpRng, jumpState } from '../../src/util/rng-jump.js';

describe('PRNG jump-ahead', () => {
  it('leaves the generator where n single draws would, for any seed and n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 5000 }), (seed, n) => {
        const a = new SeededRng(seed);
        const b = new SeededRng(seed);
        for (let i = 0; i < n; i++) a.nextUint32();
        jumpRng(b, n);
        expect(b.getState()).toEqual(a.getState());
        expect(b.nextUint32()).toBe(a.nextUint32());
      }),
      { numRuns: runs(200) },
    );
  });

  it('composes: a jump by m + n is a jump by m then by n (large counts)', () => {
    const s = new SeededRng(7).getState();
    const m = 2 ** 40 + 12345;
    const n = 2 ** 33 + 7;
    expect(jumpState(jumpState(s, m), n)).toEqual(jumpState(s, m + n));
    expect(jumpState(s, 0)).toEqual(s);
  });
});
