/**
 * dma.timeline under the DMA fast paths (issue 10 batches, closed form and held
 * runs): the per-bin counts are what one record per request gives, so their sums
 * equal dma.stats and each count lands in the bin of its own time.
 */
import { describe, it, expect } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { psmashArgs } from '../helpers/smash.js';
import { DmaEngine } from '../../src/dma/dma-engine.js';

function sums(p: Platform, deviceId: number, endNs: number) {
  const t = p.dmaTimeline({ binNs: 10_000, startNs: 0, endNs, deviceId }) as unknown as Record<string, number[]>;
  const sum = (k: string) => (t[k] ?? []).reduce((a, b) => a + b, 0);
  return { issued: sum('issued'), held: sum('held'), completed: sum('completed'), bins: t['issued'] ?? [] };
}

describe('dma.timeline with the fast paths', () => {
  it('a fixed-rate stream run in closed form and held as arithmetic runs counts each request once, in its own bin', async () => {
    const p = createPlatform();
    p.tmpmSetStallModel({ jitter: { dist: 'none' } });
    p.dmaStartStream({ deviceId: 0x100, iovaBase: 0x20_0000n, length: 0x20_0000, ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'fixed' });
    await p.clockAdvance(5_000_000);
    const r = await p.tmpmPsmashIo(psmashArgs(p, 0x100, 0x20_0000n));
    expect(r.dmaHeld).toBeGreaterThan(1900);
    await p.clockAdvance(5_000_000);
    const fast = p.m.dma.fastCounts;
    expect(fast.closedForm + fast.batched + fast.heldRuns).toBeGreaterThan(0);
    const s = p.dmaStats({ deviceId: 0x100 });
    const t = sums(p, 0x100, p.clockNow().nowNs + 10_000); // the last arrival is at nowNs itself
    expect(t.issued).toBe(s.issued);
    expect(t.held).toBe(s.held);
    expect(t.completed).toBe(s.completed);
    // One arrival per microsecond: 10 per 10 us bin wherever the stream ran.
    expect(t.bins.slice(1, 1200).every((n) => n === 10)).toBe(true);
  });

  it('gives the same bins with the closed form and held runs off (one record per request)', async () => {
    const run = async (closedForm: boolean) => {
      const p = createPlatform();
      (p.m.dma as unknown as { closedForm: boolean }).closedForm = closedForm;
      p.tmpmSetStallModel({ jitter: { dist: 'none' } });
      p.dmaStartStream({ deviceId: 0x100, iovaBase: 0x20_0000n, length: 0x20_0000, ratePerSec: 3_000_000, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'fixed' });
      await p.clockAdvance(3_000_000);
      await p.tmpmPsmashIo(psmashArgs(p, 0x100, 0x20_0000n));
      await p.clockAdvance(4_000_000);
      return JSON.stringify(p.dmaTimeline({ binNs: 10_000, startNs: 0, endNs: 10_000_000, deviceId: 0x100 }));
    };
    expect(await run(true)).toBe(await run(false));
  });

  it('the batched path (known IOTLB hits counted per bin) gives the bins of one clock event per request', async () => {
    const run = async (batch: boolean) => {
      const saved = { ...DmaEngine.defaults };
      DmaEngine.defaults.batch = batch;
      DmaEngine.defaults.closedForm = false;
      try {
        const p = createPlatform();
        p.tmpmSetStallModel({ jitter: { dist: 'none' } });
        // 1e9/s (10,000 arrivals a bin, completions 550 ns later cross bins), a slow
        // stream (about one a bin) and a non-integer rate on another device.
        p.dmaStartStream({ deviceId: 0x100, iovaBase: 0x20_0000n, length: 0x2_0000, ratePerSec: 1e9, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'fixed' });
        p.dmaStartStream({ deviceId: 0x100, iovaBase: 0x20_0000n, length: 0x20_0000, ratePerSec: 97_000, accessBytes: 4096, writeRatio: 0, pattern: 'sequential', arrival: 'fixed' });
        p.dmaStartStream({ deviceId: 0x200, iovaBase: 0x20_0000n, length: 0x1_0000, ratePerSec: 3_333_333.5, accessBytes: 256, writeRatio: 0.3, pattern: 'random', arrival: 'fixed' });
        await p.clockAdvance(1_234_567);
        await p.tmpmPsmashIo(psmashArgs(p, 0x100, 0x20_0000n));
        await p.clockAdvance(777_777);
        const out = [0x100, 0x200].map((deviceId) => p.dmaTimeline({ binNs: 10_000, startNs: 0, endNs: 3_000_000, deviceId }));
        const batched = p.m.dma.fastCounts.batched;
        p.dispose();
        return { timeline: JSON.stringify(out), batched };
      } finally {
        Object.assign(DmaEngine.defaults, saved);
      }
    };
    const fast = await run(true);
    const reference = await run(false);
    expect(fast.batched).toBeGreaterThan(1_000_000);
    expect(reference.batched).toBe(0);
    expect(fast.timeline).toBe(reference.timeline);
  });
});
