import { describe, expect, it } from 'vitest';
import { DmaTimeline, TIMELINE_BIN_NS, TIMELINE_CHUNK_BINS, TIMELINE_MAX_CHUNKS, TL } from '../../src/dma/dma-timeline.js';

const CHUNK_NS = TIMELINE_BIN_NS * TIMELINE_CHUNK_BINS;

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
});
