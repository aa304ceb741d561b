/**
 * DmaStream.accessFromDraws (the batched path's addresses from pre-drawn PRNG
 * values, with integer shortcuts for 2^k slots and the write threshold) against
 * nextAccess (rng.int / rng.next, the one-event-per-request reference): the same
 * page, offset and direction for every draw.
 */
import { describe, expect, it } from 'vitest';
import { DmaStream, checkStreamParams, type StreamParams } from '../../src/dma/dma-stream.js';
import { DmaCounters } from '../../src/dma/dma-stats.js';
import { SeededRng } from '../../src/util/rng.js';

function stream(p: Partial<StreamParams>): DmaStream {
  const params = checkStreamParams({ deviceId: 1, iovaBase: 0x20_0000n, length: 2 ** 21, ratePerSec: 1e6, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'fixed', ...p });
  return new DmaStream('s1', params, new DmaCounters(), new DmaCounters(), 1, 0);
}

describe('DmaStream.accessFromDraws', () => {
  const cases: Array<Partial<StreamParams>> = [];
  // 2^k slots for k = 0..30 (the shortcut up to 27, the float path above), odd counts, offsets.
  for (let k = 0; k <= 30; k++) cases.push({ length: 2 ** k * 64, accessBytes: 64 });
  cases.push({ length: 3 * 4096, accessBytes: 4096 }, { length: 1_000_000, accessBytes: 8 }, { length: 2 ** 40 + 4096, accessBytes: 4096, iovaBase: 0x40n * 4096n });
  cases.push({ iovaBase: 0x1234_5640n, length: 2 ** 16, accessBytes: 64 });
  for (const w of [0, 1, 0.3, 0.25, 1e-300, 1 - 2 ** -53, 0.999]) cases.push({ writeRatio: w, length: 2 ** 20 });
  cases.push({ pattern: 'sequential', length: 2 ** 20, accessBytes: 4096, writeRatio: 0.7 });

  it.each(cases.map((c, i) => [i, c] as const))('case %i: the same accesses as nextAccess', (_i, c) => {
    const a = stream(c);
    const b = stream(c);
    const rngA = new SeededRng(7 + _i);
    const rngB = new SeededRng(7 + _i);
    const draws = new Uint32Array(4 * 2000);
    rngA.fill(draws, a.drawsPerRequest * 2000);
    let used = 0;
    for (let r = 0; r < 2000; r++) {
      used = a.accessFromDraws(draws, used);
      b.nextAccess(rngB);
      expect([a.iovaPfn, a.pageOff, a.write]).toEqual([b.iovaPfn, b.pageOff, b.write]);
    }
    expect(rngA.getState()).toEqual(rngB.getState());
  });

  it('draws at the edges of the shortcut: all-ones and all-zero words', () => {
    for (const k of [0, 1, 12, 27]) {
      const a = stream({ length: 2 ** k * 64 });
      const draws = Uint32Array.from([0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0, 0, 0, 0]);
      a.accessFromDraws(draws, 0);
      const slot = (a.iovaPfn - 0x200) * 64 + a.pageOff / 64;
      expect(slot).toBe(Math.floor((((0xffff_ffff >>> 5) * 67108864 + (0xffff_ffff >>> 6)) / 2 ** 53) * 2 ** k));
      a.accessFromDraws(draws, 4);
      expect(a.iovaPfn).toBe(0x200);
      expect(a.write).toBe(true);
    }
    // unit exactly 0.5 against writeRatio 0.5: not below it, a read (as rng.next() < 0.5).
    const half = stream({ writeRatio: 0.5 });
    half.accessFromDraws(Uint32Array.from([0, 0, 0x8000_0000, 63]), 0);
    expect(half.write).toBe(false);
    half.accessFromDraws(Uint32Array.from([0, 0, 0x7fff_ffff, 0xffff_ffff]), 0);
    expect(half.write).toBe(true);
  });
});

describe('DmaStream arrival arithmetic (arrivalAt, arrivalsThrough, skipArrivals)', () => {
  // Rates dividing 1e9 take the equal-gap shortcut; the others the exact rational path.
  it.each([1, 1e5, 1e6, 2e8, 1e9, 3, 7_777_777, 999_999_999])('rate %d: the times nextGapNs steps to', (rate) => {
    const s = stream({ ratePerSec: rate });
    const rng = new SeededRng(1);
    for (const acc of [0, Math.floor(rate / 3), rate - 1]) {
      s.acc = acc;
      const t0 = 123_456_789;
      const stepper = stream({ ratePerSec: rate });
      stepper.acc = acc;
      let t = t0;
      for (let k = 0; k < 300; k++) {
        expect(s.arrivalAt(t0, k)).toBe(t);
        expect(s.arrivalsThrough(t0, t)).toBe(k + 1);
        const next = t + stepper.nextGapNs(rng);
        if (next > t + 1) expect(s.arrivalsThrough(t0, next - 1)).toBe(k + 1);
        t = next;
      }
      const copy = stream({ ratePerSec: rate });
      copy.acc = acc;
      expect(copy.skipArrivals(t0, 300)).toBe(t);
      expect(copy.acc).toBe(stepper.acc);
    }
  });
});
