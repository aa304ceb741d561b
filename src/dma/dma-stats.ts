/**
 * Counters of one view of DMA (the whole platform, one device or one stream), the
 * shape `dma.stats` returns (protocol/README.md §8). Every request is counted in
 * `issued` and `inFlight` when it arrives and moves out of `inFlight` to exactly one
 * outcome counter when that outcome is decided, so
 * issued = completed + ioPageFaults + rmpFaults + timeouts + aborted + inFlight
 * holds at every instant, including after a reset (see `reset`).
 */
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js';

/** A stall window as `dma.stats` reports it. */
export interface StallWindowView {
  startNs: number;
  endNs: number;
}

/** A stall window as the engine records it: which devices it covered is in its scope. */
export interface StallWindow extends StallWindowView {
  scope: 'domain' | 'iommu';
  domainId: number;
}

export interface DmaStatsView {
  issued: number;
  completed: number;
  held: number;
  ioPageFaults: number;
  rmpFaults: number;
  timeouts: number;
  aborted: number;
  inFlight: number;
  /** Requests whose translation missed the IOTLB (they walked). */
  iotlbMisses: number;
  latencyNs: LatencySummary;
  stalls: StallWindowView[];
}

/** The outcomes that end a request (a held request is still in flight). */
export const FINAL = { COMPLETED: 0, IO_PAGE_FAULT: 1, RMP_FAULT: 2, TIMEOUT: 3, ABORTED: 4 } as const;
export type FinalOutcome = (typeof FINAL)[keyof typeof FINAL];

export interface DmaCountersDoc {
  issued: number;
  completed: number;
  held: number;
  waiting: number;
  ioPageFaults: number;
  rmpFaults: number;
  timeouts: number;
  aborted: number;
  inFlight: number;
  iotlbMisses: number;
  maxNs: number;
  histogram: string;
}

export class DmaCounters {
  issued = 0;
  completed = 0;
  /** Requests that waited on a stall (held, released or timed out). */
  held = 0;
  /** Requests waiting on a stall right now (a subset of inFlight). */
  waiting = 0;
  ioPageFaults = 0;
  rmpFaults = 0;
  timeouts = 0;
  aborted = 0;
  inFlight = 0;
  iotlbMisses = 0;
  latency = new LatencyHistogram();
  /** Stall windows that covered this view; shared records, never mutated. */
  stalls: StallWindow[] = [];

  finish(outcome: FinalOutcome): void {
    this.inFlight--;
    switch (outcome) {
      case FINAL.COMPLETED:
        this.completed++;
        break;
      case FINAL.IO_PAGE_FAULT:
        this.ioPageFaults++;
        break;
      case FINAL.RMP_FAULT:
        this.rmpFaults++;
        break;
      case FINAL.TIMEOUT:
        this.timeouts++;
        break;
      case FINAL.ABORTED:
        this.aborted++;
        break;
    }
  }

  /**
   * `count` requests in flight completed, all with latencies in the histogram bucket
   * of `latencyNs` (the same value, or a run within one bucket), the largest `maxNs`.
   */
  completeMany(latencyNs: number, count: number, maxNs = latencyNs): void {
    this.inFlight -= count;
    this.completed += count;
    this.latency.record(latencyNs, count, maxNs);
  }

  /**
   * Zeroes the counters and the histogram while requests are still in flight: those
   * stay counted as issued (issued = inFlight afterwards) so the identity keeps
   * holding when they finish; the ones waiting on a stall stay counted as held.
   * Stall windows still open (`keepWindow`) are kept.
   */
  reset(keepWindow: (w: StallWindow) => boolean): void {
    this.issued = this.inFlight;
    this.held = this.waiting;
    this.completed = this.ioPageFaults = this.rmpFaults = this.timeouts = this.aborted = this.iotlbMisses = 0;
    this.latency.reset();
    this.stalls = this.stalls.filter(keepWindow);
  }

  view(stalls: StallWindow[] = this.stalls): DmaStatsView {
    return {
      issued: this.issued,
      completed: this.completed,
      held: this.held,
      ioPageFaults: this.ioPageFaults,
      rmpFaults: this.rmpFaults,
      timeouts: this.timeouts,
      aborted: this.aborted,
      inFlight: this.inFlight,
      iotlbMisses: this.iotlbMisses,
      latencyNs: this.latency.summary(),
      stalls: stalls.map((w) => ({ startNs: w.startNs, endNs: w.endNs })),
    };
  }

  toDoc(): DmaCountersDoc {
    return {
      issued: this.issued,
      completed: this.completed,
      held: this.held,
      waiting: this.waiting,
      ioPageFaults: this.ioPageFaults,
      rmpFaults: this.rmpFaults,
      timeouts: this.timeouts,
      aborted: this.aborted,
      inFlight: this.inFlight,
      iotlbMisses: this.iotlbMisses,
      maxNs: this.latency.max,
      histogram: this.latency.encode(),
    };
  }

  /** From an already validated document (see dma-state.ts). */
  static fromDoc(doc: DmaCountersDoc, latency: LatencyHistogram, stalls: StallWindow[]): DmaCounters {
    const c = new DmaCounters();
    c.issued = doc.issued;
    c.completed = doc.completed;
    c.held = doc.held;
    c.waiting = doc.waiting;
    c.ioPageFaults = doc.ioPageFaults;
    c.rmpFaults = doc.rmpFaults;
    c.timeouts = doc.timeouts;
    c.aborted = doc.aborted;
    c.inFlight = doc.inFlight;
    c.iotlbMisses = doc.iotlbMisses;
    c.latency = latency;
    c.stalls = stalls;
    return c;
  }
}

export function emptyStatsView(stalls: StallWindow[]): DmaStatsView {
  return new DmaCounters().view(stalls);
}
