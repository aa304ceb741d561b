import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { HostMemory, PAGE_BYTES } from '../../src/memory/host-memory.js';

const word = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

describe('HostMemory number accessors', () => {
  it('read the low and high 32 bits of each word, as unsigned numbers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1023 }), word, (slot, value) => {
        const m = new HostMemory(2 ** 30);
        const spa = 0x4000_0000 - PAGE_BYTES * 2 + slot * 8;
        m.write64(spa, value);
        expect(m.wordLo(spa)).toBe(Number(value & 0xffff_ffffn));
        expect(m.wordHi(spa)).toBe(Number(value >> 32n));
        expect(BigInt(m.wordHi(spa)) * 2n ** 32n + BigInt(m.wordLo(spa))).toBe(m.word(spa));
      }),
      { numRuns: runs(500) },
    );
  });

  it('read untouched memory as zero halves and no page view', () => {
    const m = new HostMemory(2 ** 30);
    expect(m.wordLo(0x1000)).toBe(0);
    expect(m.wordHi(0x1000)).toBe(0);
    expect(m.pageHalves(1)).toBeUndefined();
  });

  it('give a page view that sees later writes and is dropped with the page', () => {
    const m = new HostMemory(2 ** 30);
    m.write64(0x2008, 0x8000_0001_ffff_fffen);
    const view = m.pageHalves(2);
    expect(view).toBeDefined();
    expect([view?.[2], view?.[3]]).toEqual([0xffff_fffe, 0x8000_0001]);
    m.write64(0x2ff8, 0x1234_5678_9abc_def0n);
    expect([view?.[1022], view?.[1023]]).toEqual([0x9abc_def0, 0x1234_5678]);
    m.zeroPages(0x2000, 1);
    expect(m.pageHalves(2)).toBeUndefined();
    expect(m.wordLo(0x2008)).toBe(0);
    m.write64(0x2008, 5n);
    expect(m.wordLo(0x2008)).toBe(5);
  });

  it('follow restorePages to the restored content', () => {
    const m = new HostMemory(2 ** 30);
    m.write64(0x3000, 7n);
    expect(m.wordLo(0x3000)).toBe(7);
    const words = new BigUint64Array(512);
    words[0] = 0xaaaa_bbbb_0000_0009n;
    m.restorePages([[3, words]]);
    expect(m.wordLo(0x3000)).toBe(9);
    expect(m.wordHi(0x3000)).toBe(0xaaaa_bbbb);
  });
});

describe('a page handed out again and again (zeroed in place)', () => {
  it('reads, walks and dumps as unbacked once zeroed, and a shared (frozen) page is left to its snapshot', () => {
    const m = new HostMemory(2 ** 30);
    const spa = 0x10_0000;
    m.writeWords(spa, [1n, 2n, 3n]);
    expect(m.isPageBacked(spa / PAGE_BYTES)).toBe(true);
    m.zeroPages(spa, 1);
    expect(m.word(spa)).toBe(0n);
    expect(m.isPageBacked(spa / PAGE_BYTES)).toBe(false);
    expect(m.backedPages()).toEqual([]);
    expect(m.backedPageCount()).toBe(0);
    expect(m.pageHalves(spa / PAGE_BYTES)).toBeUndefined();
    m.writeWords(spa + 8, [7n]);
    expect(m.readWords(spa, 3)).toEqual([0n, 7n, 0n]);
    // Shared by a snapshot: zeroing must not empty the snapshot's copy.
    const shared = m.sharePages();
    m.zeroPages(spa, 1);
    expect(m.word(spa + 8)).toBe(0n);
    expect((shared.get(spa / PAGE_BYTES) as Map<number, bigint>).get(1)).toBe(7n);
  });
});

describe('PagePool release', () => {
  it('forgets a released allocation (state, isAllocated, a second release) while keeping its Map key', async () => {
    const { PagePool } = await import('../../src/memory/page-pool.js');
    const m = new HostMemory(2 ** 32);
    const pool = new PagePool(m, 2 ** 31, 2 ** 32);
    const a = pool.alloc(2);
    const b = pool.alloc(1);
    pool.release(a, 2, false);
    expect(pool.isAllocated(a)).toBe(false);
    expect(pool.isAllocated(b)).toBe(true);
    expect(pool.allocatedPages()).toBe(1);
    expect(pool.getState().allocated).toEqual([[b, 1]]);
    expect(() => pool.release(a, 2)).toThrow(/not the start of a pool allocation/);
    // Handed out again at the same address: allocated once more.
    expect(pool.alloc(2)).toBe(a);
    expect(pool.getState().allocated).toEqual([
      [a, 2],
      [b, 1],
    ]);
  });
});
