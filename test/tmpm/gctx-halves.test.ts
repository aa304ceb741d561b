/**
 * The gctx word codec reads and writes the word through 32-bit halves: it must give
 * what the field layout gives as bigint arithmetic (bits 7:0 status, 11:8 sub-status,
 * 51:12 page, 55:52 reserved, 59:56 PTE sub-error, 63:60 PTE error) on any word,
 * whatever the fields' out-of-range bits.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeGctxWord, encodeGctxWord, gctxWithOutputs } from '../../src/tmpm/commands.js';

const field = (v: bigint, lo: number, bits: number) => Number((v >> BigInt(lo)) & ((1n << BigInt(bits)) - 1n));

describe('gctx word through halves against bigint arithmetic', () => {
  it('decodes, encodes and replaces the outputs as the layout says', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 0, max: 0x3ff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0xff }),
        (word, status, sub, subErr, err) => {
          expect(decodeGctxWord(word)).toEqual({ gctxPage: word & 0x000f_ffff_ffff_f000n, status: field(word, 0, 8), subStatus: field(word, 8, 4), pteSubError: field(word, 56, 4), pteError: field(word, 60, 4) });
          const outputs = BigInt(status & 0xff) | (BigInt(sub & 0xf) << 8n) | (BigInt(subErr & 0xf) << 56n) | (BigInt(err & 0xf) << 60n);
          expect(encodeGctxWord({ gctxPage: word, status, subStatus: sub, pteSubError: subErr, pteError: err })).toBe((word & 0x000f_ffff_ffff_f000n) | outputs);
          const kept = word & ~(0xfffn | (0xffn << 56n));
          expect(gctxWithOutputs(word, { status, subStatus: sub, pteSubError: subErr, pteError: err })).toBe(kept | outputs);
        },
      ),
      { numRuns: 500, seed: 24 },
    );
  });
});
