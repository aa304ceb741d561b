import { describe, expect, it } from 'vitest';
import { DmaTimeline, TIMELINE_BIN_NS, TIMELINE_CHUNK_BINS, TIMELINE_MAX_CHUNKS, TL } from '../../src/dma/dma-timeline.js';

const CHUNK_NS = TIMELINE_BIN_NS * TIMELINE_CHUNK_BINS;

/** Everything a timeline holds: its chunks in creation order (eviction follows it) with their non-zero counts. */
function digest(tl: DmaTimeline): unknown {
  const inner = tl as unknown as { order: Array<{ key: number; counts: Uint32Array }>; droppedBeforeNs: number };
  const chunks = inner.order.map((c) => [c.key, [...c.counts.entries()].filter(([, v]) => v !== 0).join(';')]);
  return { chunks, droppedBeforeNs: inner.droppedBeforeNs, retainedFromNs: tl.retainedFromNs() };
}

describe('DmaTimeline', () => {
  it('counts per 10 us bin and device, and sums bins into wider ones', () => {
    const tl = new DmaTimeline();
    tl.addDevice(0, 0x100);
    tl.addDevice(1, 0x200);
    tl.record(TL.ISSUED, 0, 0);
    tl.record(TL.ISSUED, 0, 9_999);
    tl.record(TL.ISSUED, 1, 10_000);
    tl.record(TL.HELD, 0, 25_000);
    tl.record(TL.COMPLETED, 0, 39_999);
    tl.record(TL.RMP_FAULT, 1, 40_000);
    expect(tl.window(10_000, 0, 5, 0x100).series.issued).toEqual([2, 0, 0, 0, 0]);
    expect(tl.window(20_000, 0, 3).series).toMatchObject({ issued: [3, 0, 0], held: [0, 1, 0], completed: [0, 1, 0], rmpFaults: [0, 0, 1] });
    expect(tl.window(10_000, 10_000, 1, 0x200).series.issued).toEqual([1]);
    expect(tl.deviceIds()).toEqual([0x100, 0x200]);
    expect(tl.retainedFromNs()).toBe(0);
  });

  it('keeps at most TIMELINE_MAX_CHUNKS chunks, dropping the oldest, and says where the record starts', () => {
    const tl = new DmaTimeline();
    tl.addDevice(0, 1);
    const chunks = TIMELINE_MAX_CHUNKS + 10;
    for (let c = 0; c < chunks; c++) tl.record(TL.ISSUED, 0, c * CHUNK_NS + 5);
    expect(tl.retainedFromNs()).toBe(10 * CHUNK_NS);
    const w = tl.window(CHUNK_NS, 0, chunks);
    expect(w.series.issued.slice(0, 10)).toEqual(new Array(10).fill(0));
    expect(w.series.issued.slice(10)).toEqual(new Array(TIMELINE_MAX_CHUNKS).fill(1));
    // A late count into a dropped chunk makes a new chunk and drops another: still bounded.
    tl.record(TL.COMPLETED, 0, 0);
    const after = tl.window(CHUNK_NS, 0, chunks).series;
    expect(after.issued.reduce((a, b) => a + b, 0) + after.completed.reduce((a, b) => a + b, 0)).toBe(TIMELINE_MAX_CHUNKS);
  });

  it('reset drops counts and keeps the devices', () => {
    const tl = new DmaTimeline();
    tl.addDevice(0, 7);
    tl.record(TL.ISSUED, 0, 100);
    tl.reset();
    expect(tl.retainedFromNs()).toBeNull();
    tl.record(TL.ISSUED, 0, 100);
    expect(tl.window(10_000, 0, 1).series.issued).toEqual([1]);
  });

  it('recordSorted gives the bins, chunk order and evictions of one record per time', () => {
    // Runs of every density: 1e9/s (10,000 per bin), one per bin, gaps of several
    // chunks (evictions), times past 2^50 where the bin's Math.floor rounds.
    const runs: number[][] = [];
    const dense: number[] = [];
    for (let t = 3; t < 45_000; t++) dense.push(t);
    runs.push(dense);
    runs.push(Array.from({ length: 40 }, (_, k) => 9_999 + k * 10_000));
    runs.push(Array.from({ length: TIMELINE_MAX_CHUNKS + 20 }, (_, k) => k * CHUNK_NS * 3 + (k % 7)));
    const big = 2 ** 50 + 123;
    runs.push(Array.from({ length: 30_000 }, (_, k) => big + k * 7));
    runs.push([5, 5, 5, 10_000, 10_000, 19_999]);
    for (const times of runs) {
      for (const shift of [0, 550, 9_999, 123_456]) {
        for (const [from, to] of [
          [0, times.length],
          [1, Math.max(1, times.length - 2)],
        ] as const) {
          const one = new DmaTimeline();
          const sorted = new DmaTimeline();
          one.addDevice(0, 1);
          sorted.addDevice(0, 1);
          one.record(TL.HELD, 0, 77); // a chunk first, so order matters
          sorted.record(TL.HELD, 0, 77);
          for (let k = from; k < to; k++) one.record(TL.COMPLETED, 0, (times[k] as number) + shift);
          sorted.recordSorted(TL.COMPLETED, 0, Float64Array.from(times), from, to, shift);
          expect(digest(sorted)).toEqual(digest(one));
        }
      }
    }
  });
});
