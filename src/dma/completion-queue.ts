/**
 * Requests that translated ok and are being serviced, until their completion time
 * (ARCHITECTURE.md, "Value conventions inside the domain": no closure, promise or clock event
 * per request).
 *
 * Why no clock event per completion: a completion changes nothing but counters, so
 * it only has to be counted before anyone reads them. A request decided at `nowNs`
 * completes at nowNs + (translationNs + serviceNs); `nowNs` never goes back and the
 * sum takes a handful of values (an IOTLB hit, walks of 1-6 levels), so one FIFO per
 * sum is sorted by completion time. Readers call `settle(nowNs)` first; every
 * SETTLE_EVERY pushes settle their own FIFO, which bounds memory by the requests
 * really in flight (plus SETTLE_EVERY). A completion due at T therefore counts as
 * completed for any read at time T. Settling hands runs of equal completions to the
 * sink at once (counts add up the same in any grouping).
 *
 * Entries are parallel typed-array rings: no allocation per request. A push that
 * settle would group with the FIFO's last entry (the same completion time, device
 * and stream, a latency in the histogram bucket of the entry's first) joins it as a
 * count and a maximum: the release of a stall decides millions of requests at one
 * time, and they would otherwise sit here one by one (48 MiB for 2 M, copied at each
 * doubling) until the clock moves. State documents still list one per request.
 */
import { TIMELINE_BIN_NS } from './dma-timeline.js';
export interface CompletionSink {
  /**
   * `count` requests completed at `doneNs` (one timeline bin: the group never spans
   * two) with this device and stream and latencies in the histogram bucket of
   * `latencyNs` (sameBucketTopNs), the largest `maxNs`.
   */
  onCompleted(latencyNs: number, deviceSlot: number, streamSlot: number, count: number, maxNs: number, doneNs: number): void;
  /** The histogram bucket holding `latencyNs`: its bottom and top value (LatencyHistogram). */
  bucketTopNs?(latencyNs: number): number;
  bucketBottomNs?(latencyNs: number): number;
}

/** Pushes between settles of a FIFO. */
const SETTLE_EVERY = 256;

/** A pending completion as state documents carry it. */
export interface PendingCompletion {
  doneNs: number;
  latencyNs: number;
  /** doneNs - decision time: the FIFO it belongs to. */
  spanNs: number;
  deviceSlot: number;
  streamSlot: number;
}

class Fifo {
  doneNs = new Float64Array(64);
  /** The first request's latency; `count` requests, the largest latency `maxNs`. */
  latencyNs = new Float64Array(64);
  maxNs = new Float64Array(64);
  count = new Float64Array(64);
  deviceSlot = new Int32Array(64);
  streamSlot = new Int32Array(64);
  head = 0;
  size = 0;
  /** Pushes until the next settle. */
  untilSettle = SETTLE_EVERY;
  /**
   * The histogram bucket of the last entry's first latency (pushes within it join the
   * entry); NaN until a push with the entry's completion time asks (most pushes of a
   * walking stream complete at a time of their own and never need it).
   */
  private lastBottom = NaN;
  private lastTop = NaN;

  constructor(readonly spanNs: number) {}

  push(doneNs: number, latencyNs: number, deviceSlot: number, streamSlot: number, sink: CompletionSink): void {
    if (this.size > 0) {
      const t = (this.head + this.size - 1) & (this.doneNs.length - 1);
      if (this.doneNs[t] === doneNs && this.deviceSlot[t] === deviceSlot && this.streamSlot[t] === streamSlot) {
        if (Number.isNaN(this.lastTop)) {
          const first = this.latencyNs[t] as number;
          const grouped = sink.bucketTopNs !== undefined && sink.bucketBottomNs !== undefined;
          this.lastTop = grouped ? (sink.bucketTopNs as (v: number) => number)(first) : first;
          this.lastBottom = grouped ? (sink.bucketBottomNs as (v: number) => number)(first) : first;
        }
        if (latencyNs >= this.lastBottom && latencyNs <= this.lastTop) {
          this.count[t] = (this.count[t] as number) + 1;
          if (latencyNs > (this.maxNs[t] as number)) this.maxNs[t] = latencyNs;
          return;
        }
      }
    }
    if (this.size === this.doneNs.length) this.grow();
    const cap = this.doneNs.length;
    const i = (this.head + this.size) & (cap - 1);
    this.doneNs[i] = doneNs;
    this.latencyNs[i] = latencyNs;
    this.maxNs[i] = latencyNs;
    this.count[i] = 1;
    this.deviceSlot[i] = deviceSlot;
    this.streamSlot[i] = streamSlot;
    this.size++;
    this.lastTop = NaN;
    this.lastBottom = NaN;
  }

  /**
   * `count` pushes at once whose latencies all lie in the histogram bucket of
   * `latencyNs`, the first and largest: the first joins the last entry or starts one,
   * as push decides, and the rest join it, as each of their pushes would.
   */
  pushGroup(doneNs: number, latencyNs: number, count: number, deviceSlot: number, streamSlot: number, sink: CompletionSink): void {
    this.push(doneNs, latencyNs, deviceSlot, streamSlot, sink);
    if (count > 1) {
      const t = (this.head + this.size - 1) & (this.doneNs.length - 1);
      this.count[t] = (this.count[t] as number) + count - 1;
    }
  }

  settle(nowNs: number, sink: CompletionSink): void {
    this.untilSettle = SETTLE_EVERY;
    const mask = this.doneNs.length - 1;
    const done = this.doneNs;
    const lat = this.latencyNs;
    const max = this.maxNs;
    const cnt = this.count;
    const dev = this.deviceSlot;
    const st = this.streamSlot;
    while (this.size > 0 && (done[this.head] as number) <= nowNs) {
      const h = this.head;
      const l = lat[h] as number;
      const d = dev[h] as number;
      const s = st[h] as number;
      const doneAt = done[h] as number;
      const bin = Math.floor(doneAt / TIMELINE_BIN_NS);
      // Latencies in one histogram bucket count alike: group them (a release of many
      // held requests has as many distinct latencies, but few buckets), within one
      // timeline bin of their completion time.
      let hi = max[h] as number;
      const grouped = sink.bucketTopNs !== undefined && sink.bucketBottomNs !== undefined;
      const top = grouped ? (sink.bucketTopNs as (v: number) => number)(l) : l;
      const bottom = grouped ? (sink.bucketBottomNs as (v: number) => number)(l) : l;
      let entries = 1;
      let n = cnt[h] as number;
      let k = (h + 1) & mask;
      while (entries < this.size && (done[k] as number) <= nowNs && dev[k] === d && st[k] === s && Math.floor((done[k] as number) / TIMELINE_BIN_NS) === bin) {
        // An entry's requests lie in the bucket of its first latency: all of them join, or none.
        const v = lat[k] as number;
        if (v > top || v < bottom) break;
        if ((max[k] as number) > hi) hi = max[k] as number;
        n += cnt[k] as number;
        entries++;
        k = (k + 1) & mask;
      }
      sink.onCompleted(l, d, s, n, hi, doneAt);
      this.head = k;
      this.size -= entries;
    }
  }

  /**
   * One per request, in push order: an entry of n requests as n - 1 at its first
   * latency and one at its largest, which pushed again rebuild the same entry.
   */
  *entries(): Generator<PendingCompletion> {
    const mask = this.doneNs.length - 1;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & mask;
      const n = this.count[i] as number;
      for (let j = 0; j < n; j++) {
        yield {
          doneNs: this.doneNs[i] as number,
          latencyNs: (j === n - 1 ? this.maxNs[i] : this.latencyNs[i]) as number,
          spanNs: this.spanNs,
          deviceSlot: this.deviceSlot[i] as number,
          streamSlot: this.streamSlot[i] as number,
        };
      }
    }
  }

  private grow(): void {
    const cap = this.doneNs.length;
    const mask = cap - 1;
    const d = new Float64Array(cap * 2);
    const l = new Float64Array(cap * 2);
    const mx = new Float64Array(cap * 2);
    const c = new Float64Array(cap * 2);
    const dev = new Int32Array(cap * 2);
    const st = new Int32Array(cap * 2);
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & mask;
      d[k] = this.doneNs[i] as number;
      l[k] = this.latencyNs[i] as number;
      mx[k] = this.maxNs[i] as number;
      c[k] = this.count[i] as number;
      dev[k] = this.deviceSlot[i] as number;
      st[k] = this.streamSlot[i] as number;
    }
    this.doneNs = d;
    this.latencyNs = l;
    this.maxNs = mx;
    this.count = c;
    this.deviceSlot = dev;
    this.streamSlot = st;
    this.head = 0;
  }
}

export class CompletionQueue {
  private readonly fifos = new Map<number, Fifo>();
  /** Most requests share one span (IOTLB hits): skip the Map lookup for them. */
  private last: Fifo | null = null;

  constructor(private readonly sink: CompletionSink) {}

  /** `nowNs` is the decision time: completion at nowNs + spanNs. */
  push(nowNs: number, spanNs: number, latencyNs: number, deviceSlot: number, streamSlot: number): void {
    const f = this.fifo(spanNs);
    if (--f.untilSettle <= 0) f.settle(nowNs, this.sink);
    f.push(nowNs + spanNs, latencyNs, deviceSlot, streamSlot, this.sink);
  }

  /**
   * `count` pushes decided at `nowNs` (spanNs > 0) of one device and stream whose
   * latencies lie in the histogram bucket of `latencyNs`, none above it (a stall's
   * release in closed form): the same queue as `count` calls of push. Their settles
   * (every SETTLE_EVERY pushes) all run at `nowNs`, where nothing pushed here is due
   * yet, so one does the work of them all.
   */
  pushGroup(nowNs: number, spanNs: number, latencyNs: number, count: number, deviceSlot: number, streamSlot: number): void {
    const f = this.fifo(spanNs);
    if (count >= f.untilSettle) {
      const after = (count - f.untilSettle) % SETTLE_EVERY;
      f.settle(nowNs, this.sink);
      f.untilSettle = SETTLE_EVERY - after;
    } else f.untilSettle -= count;
    f.pushGroup(nowNs + spanNs, latencyNs, count, deviceSlot, streamSlot, this.sink);
  }

  private fifo(spanNs: number): Fifo {
    let f = this.last;
    if (f === null || f.spanNs !== spanNs) {
      f = this.fifos.get(spanNs) ?? null;
      if (f === null) {
        f = new Fifo(spanNs);
        this.fifos.set(spanNs, f);
      }
      this.last = f;
    }
    return f;
  }

  settle(nowNs: number): void {
    for (const f of this.fifos.values()) f.settle(nowNs, this.sink);
  }

  /** Entries held (a group of requests is one). */
  get size(): number {
    let n = 0;
    for (const f of this.fifos.values()) n += f.size;
    return n;
  }

  /** FIFO by FIFO, each in completion order: replaying `restore` rebuilds the same queue. */
  entries(): PendingCompletion[] {
    const out: PendingCompletion[] = [];
    for (const f of this.fifos.values()) for (const e of f.entries()) out.push(e);
    return out;
  }

  /** Appends a pending entry from a validated state document. */
  restore(e: PendingCompletion): void {
    let f = this.fifos.get(e.spanNs);
    if (f === undefined) {
      f = new Fifo(e.spanNs);
      this.fifos.set(e.spanNs, f);
    }
    f.push(e.doneNs, e.latencyNs, e.deviceSlot, e.streamSlot, this.sink);
  }
}
