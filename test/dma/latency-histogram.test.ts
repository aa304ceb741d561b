import { describe, expect, it } from 'vitest';
import { build, type JsHistogram } from 'hdr-histogram-js';
import { LatencyHistogram } from '../../src/dma/latency-histogram.js';
import { CompletionQueue } from '../../src/dma/completion-queue.js';
import { SeededRng } from '../../src/util/rng.js';

describe('LatencyHistogram', () => {
  it('is all zeros when empty', () => {
    expect(new LatencyHistogram().summary()).toEqual({ p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  });

  it('names the same bucket bounds as hdr-histogram-js (lowest and highest equivalent value) for every value it may see', () => {
    const hdr = build({ bitBucketSize: 64, numberOfSignificantValueDigits: 3, useWebAssembly: false }) as unknown as JsHistogram;
    const h = new LatencyHistogram();
    const values: number[] = [];
    for (let v = 0; v <= 70_000; v++) values.push(v);
    for (let k = 11; k <= 52; k++) for (let d = -3; d <= 3; d++) values.push(2 ** k + d);
    const rng = new SeededRng(11);
    for (let i = 0; i < 20_000; i++) values.push(Math.floor(rng.next() * 2 ** (1 + Math.floor(rng.next() * 52))));
    const differ = values.filter((v) => h.bucketBottomNs(v) !== hdr.lowestEquivalentValue(v) || h.bucketTopNs(v) !== hdr.highestEquivalentValue(v));
    expect(differ).toEqual([]);
    expect(values.length).toBeGreaterThan(90_000);
  });

  it('agrees with a plain HDR histogram over many distinct values (3 significant digits) and keeps the exact max', () => {
    const rng = new SeededRng(5);
    const ours = new LatencyHistogram();
    const ref = build({ bitBucketSize: 64, numberOfSignificantValueDigits: 3, useWebAssembly: false });
    let max = 0;
    for (let i = 0; i < 20_000; i++) {
      const v = i % 3 === 0 ? 550 : 50 + rng.int(3_000_000);
      ours.record(v);
      ref.recordValue(v);
      max = Math.max(max, v);
    }
    const s = ours.summary();
    expect(s.max).toBe(max);
    expect(s.p50).toBe(Math.min(ref.getValueAtPercentile(50), max));
    expect(s.p99).toBe(Math.min(ref.getValueAtPercentile(99), max));
    expect(s.p999).toBe(Math.min(ref.getValueAtPercentile(99.9), max));
    expect(ours.count).toBe(20_000);
  });

  it('round-trips through its base64 encoding and keeps growing afterwards', () => {
    const h = new LatencyHistogram();
    for (const v of [550, 550, 800, 1234]) h.record(v);
    const back = LatencyHistogram.decode(h.encode(), h.max);
    expect(back.summary()).toEqual(h.summary());
    back.record(50_000_000);
    expect(back.summary().max).toBe(50_000_000);
    expect(back.count).toBe(5);
  });
});

describe('CompletionQueue', () => {
  it('completes each request at decision time + span even when spans are not monotone', () => {
    const done: number[] = [];
    const q = new CompletionQueue({ onCompleted: (latencyNs, _d, _s, count) => done.push(...Array<number>(count).fill(latencyNs)) });
    q.push(0, 800, 800, 0, -1);
    q.push(0, 550, 550, 0, -1);
    q.push(100, 550, 550, 0, -1);
    q.push(200, 800, 900, 0, 1);
    q.settle(549);
    expect(done).toEqual([]);
    q.settle(650);
    expect(done).toEqual([550, 550]);
    expect(q.size).toBe(2);
    q.settle(1000);
    expect(done).toEqual([550, 550, 800, 900]);
    expect(q.size).toBe(0);
  });

  it('grows its rings past their initial capacity without reordering', () => {
    const done: number[] = [];
    const q = new CompletionQueue({ onCompleted: (latencyNs, _d, _s, count) => done.push(...Array<number>(count).fill(latencyNs)) });
    for (let t = 0; t < 1000; t++) q.push(t, 5000, t, 0, -1);
    expect(q.entries().map((e) => e.doneNs)).toEqual(Array.from({ length: 1000 }, (_, t) => t + 5000));
    q.settle(1e9);
    expect(done).toEqual(Array.from({ length: 1000 }, (_, t) => t));
  });
});
