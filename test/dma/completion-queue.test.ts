/**
 * CompletionQueue groups requests at push time (a release decides millions at one
 * time): what the sink is told must add up to what one request at a time gives,
 * per histogram bucket, timeline bin, device and stream, with the same maxima; the
 * state document still lists one entry per request, and restoring it rebuilds the
 * same queue.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { CompletionQueue, type CompletionSink } from '../../src/dma/completion-queue.js';
import { TIMELINE_BIN_NS } from '../../src/dma/dma-timeline.js';

/** Buckets of 100 ns below 10 µs, of 1 µs above: bucketTopNs / bucketBottomNs as a histogram gives them. */
const width = (v: number): number => (v < 10_000 ? 100 : 1000);
const bottom = (v: number): number => Math.floor(v / width(v)) * width(v);
const top = (v: number): number => bottom(v) + width(v) - 1;

/** Counts by (bucket, bin, device, stream), the requests, and the largest latency per (device, stream). */
function tally(): { sink: CompletionSink; counts: Map<string, number>; max: Map<string, number>; calls: number } {
  const t = {
    counts: new Map<string, number>(),
    max: new Map<string, number>(),
    calls: 0,
    sink: undefined as unknown as CompletionSink,
  };
  t.sink = {
    onCompleted(latencyNs, deviceSlot, streamSlot, count, maxNs, doneNs) {
      t.calls++;
      expect(top(maxNs)).toBe(top(latencyNs));
      const k = `${bottom(latencyNs)}/${Math.floor(doneNs / TIMELINE_BIN_NS)}/${deviceSlot}/${streamSlot}`;
      t.counts.set(k, (t.counts.get(k) ?? 0) + count);
      const m = `${deviceSlot}/${streamSlot}`;
      t.max.set(m, Math.max(t.max.get(m) ?? 0, maxNs));
    },
    bucketTopNs: top,
    bucketBottomNs: bottom,
  };
  return t;
}

/** A request: decided at `at`, completing `span` later with `latency`, for device / stream. */
const request = fc.record({
  dt: fc.constantFrom(0, 0, 0, 1, 700, 15_000),
  span: fc.constantFrom(550, 650),
  latency: fc.integer({ min: 0, max: 40_000 }),
  dev: fc.integer({ min: 0, max: 1 }),
  stream: fc.integer({ min: -1, max: 1 }),
});

describe('CompletionQueue', () => {
  it('tells the sink what one request at a time adds up to, and its document restores the same queue', () => {
    fc.assert(
      fc.property(fc.array(request, { maxLength: 400 }), (reqs) => {
        const q = tally();
        const queue = new CompletionQueue(q.sink);
        const want = tally();
        let at = 0;
        for (const r of reqs) {
          at += r.dt;
          queue.push(at, r.span, r.latency, r.dev, r.stream);
          want.sink.onCompleted(r.latency, r.dev, r.stream, 1, r.latency, at + r.span);
        }
        // Half-way: the document, restored into a fresh queue, settles to the same sink calls.
        const doc = queue.entries();
        expect(doc.length).toBe(reqs.length - [...q.counts.values()].reduce((a, b) => a + b, 0));
        const again = tally();
        const restored = new CompletionQueue(again.sink);
        for (const e of doc) restored.restore(e);
        expect(restored.entries()).toEqual(doc);
        expect(restored.size).toBe(queue.size);
        const early = new Map(q.counts);
        queue.settle(at + 1_000_000);
        restored.settle(at + 1_000_000);
        expect(q.counts).toEqual(want.counts);
        expect(q.max).toEqual(want.max);
        // What the restored queue settles is exactly what was still pending.
        const sum = new Map(early);
        for (const [k, n] of again.counts) sum.set(k, (sum.get(k) ?? 0) + n);
        expect(sum).toEqual(want.counts);
        for (const [k, m] of again.max) expect(m).toBeLessThanOrEqual(want.max.get(k) as number);
      }),
      { numRuns: runs(300) },
    );
  });

  it('pushGroup leaves the same queue as one push per request (a release in closed form)', () => {
    // Groups decided at one time, latencies descending within each group's bucket, the
    // first the largest, between single pushes of other devices, streams and spans.
    const group = fc.record({
      single: fc.option(request),
      count: fc.integer({ min: 1, max: 700 }),
      latency: fc.integer({ min: 0, max: 40_000 }),
      dev: fc.integer({ min: 0, max: 1 }),
      stream: fc.integer({ min: -1, max: 1 }),
      span: fc.constantFrom(550, 650),
    });
    fc.assert(
      fc.property(fc.array(group, { maxLength: 60 }), (groups) => {
        const one = tally();
        const bulk = tally();
        const byOne = new CompletionQueue(one.sink);
        const byGroup = new CompletionQueue(bulk.sink);
        let at = 0;
        for (const g of groups) {
          if (g.single !== null) {
            at += g.single.dt;
            byOne.push(at, g.single.span, g.single.latency, g.single.dev, g.single.stream);
            byGroup.push(at, g.single.span, g.single.latency, g.single.dev, g.single.stream);
          }
          const low = bottom(g.latency);
          for (let i = 0; i < g.count; i++) byOne.push(at, g.span, Math.max(low, g.latency - i), g.dev, g.stream);
          // One push per request would have grouped them the same: n - 1 at the first latency in the document.
          byGroup.pushGroup(at, g.span, g.latency, g.count, g.dev, g.stream);
        }
        const oneDoc = byOne.entries();
        const groupDoc = byGroup.entries();
        expect(byGroup.size).toBe(byOne.size);
        expect(groupDoc).toEqual(oneDoc);
        expect(one.counts).toEqual(bulk.counts);
        byOne.settle(at + 1_000_000);
        byGroup.settle(at + 1_000_000);
        expect(bulk.counts).toEqual(one.counts);
        expect(bulk.max).toEqual(one.max);
      }),
      { numRuns: runs(300) },
    );
  });

  it('holds a release of 100,000 requests decided at one time in a few hundred entries', () => {
    const q = tally();
    const queue = new CompletionQueue(q.sink);
    // Latencies fall by 1 ns per request: 100 µs of arrivals released at once.
    for (let i = 0; i < 100_000; i++) queue.push(5_000_000, 550, 100_550 - i, 0, 0);
    expect(queue.size).toBeLessThan(400);
    expect(queue.entries()).toHaveLength(100_000);
    queue.settle(6_000_000);
    expect([...q.counts.values()].reduce((a, b) => a + b, 0)).toBe(100_000);
    expect(q.max.get('0/0')).toBe(100_550);
  });
});
