/**
 * emu.snapshot, emu.revert, emu.dumpState and emu.loadState in slices: the work
 * yields between bounded chunks (counted through the yield hook, with slices of 0 ms
 * so every step yields: no wall clock involved), gives byte for byte what the
 * one-block version gives, is atomic to the platform's other calls (they wait, or
 * see the old state), and a load failing midway changes nothing.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { EmuError } from '../../src/util/emu-error.js';
import { runSteps, sortSteps } from '../../src/util/steps.js';
import { runs } from '../helpers/fc-seed.js';
import { systemWallClock } from '../../src/clock/wall-clock.js';

/** A platform whose IOTLB holds ~16K entries (two streams over 64 MB), with written memory. */
async function filled(): Promise<Platform> {
  const p = createPlatform();
  const { streamId } = p.dmaStartStream({ deviceId: 0x100, iovaBase: 0n, length: 64 * 2 ** 20, ratePerSec: 20_000_000, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'poisson' });
  p.dmaStartStream({ deviceId: 0x200, iovaBase: 0n, length: 2 ** 20, ratePerSec: 50_000, accessBytes: 4096, writeRatio: 0, pattern: 'sequential', arrival: 'fixed' });
  await p.clockAdvance(4_000_000);
  const { spa } = p.memAlloc(8);
  p.memWrite64(
    Number(spa),
    Array.from({ length: 2048 }, (_, i) => BigInt(i + 1) * 0x1234_5678n),
  );
  p.dmaStopStream(streamId);
  return p;
}

const json = (p: Platform): string => JSON.stringify(p.dumpState().state);

/** A yield hook that counts and runs `between` at each yield (another turn of the event loop). */
function hook(between: () => void = () => undefined): { yieldFn: () => Promise<void>; count: () => number } {
  let n = 0;
  return {
    yieldFn: async () => {
      n++;
      between();
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
    count: () => n,
  };
}

describe('state work in slices', () => {
  it('sortSteps orders as Array.prototype.sort does (stable), whatever the input', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer()), { maxLength: 5000 }), (xs) => {
        const cmp = (a: [number, number], b: [number, number]) => a[0] - b[0];
        expect(runSteps(sortSteps([...xs], cmp))).toEqual([...xs].sort(cmp));
      }),
      { numRuns: runs(50) },
    );
  });

  it('emu.dumpState: yields many times and gives the same document as in one block', async () => {
    const p = await filled();
    expect(p.m.iommu.iotlb.size).toBeGreaterThan(10_000);
    const whole = json(p);
    const h = hook();
    const sliced = await p.dumpStateSliced(h.yieldFn, 0, async (d) => JSON.stringify(d.state));
    expect(h.count()).toBeGreaterThan(50);
    expect(sliced).toBe(whole);
  });

  it('emu.snapshot and emu.revert: yield, and give what the one-block versions give', async () => {
    const a = await filled();
    const b = await filled();
    expect(json(a)).toBe(json(b));
    const h = hook();
    const sa = await a.snapshotSliced(h.yieldFn, 0);
    const snapYields = h.count();
    expect(snapYields).toBeGreaterThan(50);
    const sb = b.snapshot();
    expect(sa).toEqual(sb);
    expect(a.snapshotUsage()).toEqual(b.snapshotUsage());
    const atSnapshot = json(a);
    for (const p of [a, b]) {
      await p.clockAdvance(1_000_000);
      p.memWrite64(0x1000_0000, [0xdeadn]);
    }
    expect(json(a)).not.toBe(atSnapshot);
    await a.revertSliced(sa.snapshotId, h.yieldFn, 0);
    expect(h.count() - snapYields).toBeGreaterThan(5);
    b.revert(sb.snapshotId);
    expect(json(a)).toBe(atSnapshot);
    expect(json(b)).toBe(atSnapshot);
    // Both continue identically from there.
    for (const p of [a, b]) await p.clockAdvance(500_000);
    expect(json(a)).toBe(json(b));
  });

  it('emu.loadState: yields, and loads what the one-block load loads', async () => {
    const src = await filled();
    const doc = JSON.parse(json(src));
    const a = createPlatform();
    const b = createPlatform();
    const h = hook();
    await a.loadStateSliced(doc, h.yieldFn, 0);
    expect(h.count()).toBeGreaterThan(5);
    b.loadState(doc);
    expect(json(a)).toBe(json(src));
    expect(json(b)).toBe(json(src));
  });

  it("another platform's calls run between the slices; this platform's calls wait and then see the new state", async () => {
    const p = await filled();
    const other = createPlatform();
    const doc = JSON.parse(json(p));
    await p.clockAdvance(700_000);
    const oldNow = p.nowNs;
    let otherCalls = 0;
    const waited: Array<Promise<number>> = [];
    const h = hook(() => {
      otherCalls++;
      other.memWrite64(0x1000_0000, [BigInt(otherCalls)]);
      // The server routes every call of a platform through whenFree.
      expect(p.busy).toBe(true);
      waited.push(Promise.resolve(p.whenFree(() => p.clockNow().nowNs)));
    });
    await p.loadStateSliced(doc, h.yieldFn, 0);
    expect(otherCalls).toBeGreaterThan(5);
    expect(other.memRead64(0x1000_0000, 1).values).toEqual([BigInt(otherCalls)]);
    expect(p.busy).toBe(false);
    const seen = await Promise.all(waited);
    expect(seen.length).toBe(otherCalls);
    // Each waiting call ran after the load: the loaded clock, not the old one.
    expect(seen.every((ns) => ns === doc.clock.nowNs)).toBe(true);
    expect(oldNow).not.toBe(doc.clock.nowNs);
  });

  it('a snapshot is of one instant: a clock.advance in flight on the platform pauses while it is taken', async () => {
    const p = await filled();
    p.dmaStartStream({ deviceId: 0x100, iovaBase: 0n, length: 64 * 2 ** 20, ratePerSec: 20_000_000, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'poisson' });
    const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
    // Chunks of a few events, a yield after each.
    const advance = p.clockAdvance(3_000_000, tick);
    await tick();
    const nows: number[] = [];
    const h = hook(() => nows.push(p.nowNs));
    const { snapshotId } = await p.snapshotSliced(h.yieldFn, 0);
    expect(h.count()).toBeGreaterThan(50);
    expect(new Set(nows).size).toBe(1);
    const atSnap = nows[0] as number;
    await advance;
    expect(p.nowNs).toBeGreaterThan(atSnap);
    p.revert(snapshotId);
    expect(p.nowNs).toBe(atSnap);
  });

  it('a load that fails midway (after many slices) changes nothing, and the waiting calls see the old state', async () => {
    const p = await filled();
    const before = json(p);
    const good = JSON.parse(before);
    // Everything up to the IOTLB is fine (thousands of entries inserted, many yields), the DMA part after it is not.
    const bad = { ...good, dma: { truncated: true } };
    const waited: Array<Promise<string>> = [];
    const h = hook(() => waited.push(Promise.resolve(p.whenFree(() => json(p)))));
    const err = await p.loadStateSliced(bad, h.yieldFn, 0).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EmuError);
    expect((err as EmuError).code).toBe('EMU_BAD_DOCUMENT');
    expect(h.count()).toBeGreaterThan(5);
    expect(json(p)).toBe(before);
    expect(p.busy).toBe(false);
    expect(new Set(await Promise.all(waited))).toEqual(new Set([before]));
    // And the platform still loads a good document in slices.
    await p.loadStateSliced(good, hook().yieldFn, 0);
    expect(json(p)).toBe(before);
  });

  it('a platform deleted while its load runs is left alone (the new machine is dropped)', async () => {
    const p = await filled();
    const doc = JSON.parse(json(p));
    const old = p.m;
    let disposed = false;
    const h = hook(() => {
      if (!disposed) {
        disposed = true;
        p.dispose();
      }
    });
    await expect(p.loadStateSliced(doc, h.yieldFn, 0)).rejects.toMatchObject({ code: 'EMU_NOT_FOUND' });
    expect(p.m).toBe(old);
  });

  it('in realtime mode a snapshot is taken in one block (the machine moves between turns)', async () => {
    const p = createPlatform(undefined, { wall: systemWallClock });
    p.clockSetMode('realtime', 1);
    try {
      const h = hook();
      const { snapshotId } = await p.snapshotSliced(h.yieldFn, 0);
      expect(h.count()).toBe(0);
      expect(snapshotId).toMatch(/^snap-/);
    } finally {
      p.dispose();
    }
  });
});
