/**
 * Latency distribution of completed DMA requests (DESIGN.md `dma.stats`): an HDR
 * histogram of integer ns at 3 significant digits, pure JS (no WASM: the engine
 * must run the same everywhere and serialise exactly). 64-bit buckets because a
 * long experiment at 1e9 requests/s passes 2^31 counts in one bucket.
 *
 * The exact maximum is kept beside it: the histogram reports bucket upper bounds,
 * and a stall experiment asserts `max >= stall length` to the nanosecond.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export class LatencyHistogram {
  private hist: Histogram;
  private maxNs = 0;

  constructor(hist?: Histogram, maxNs = 0) {
    this.hist = hist ?? newHistogram();
    this.maxNs = maxNs;
  }

  get count(): number {
    return this.hist.totalCount;
  }

  get max(): number {
    return this.maxNs;
  }

  record(latencyNs: number): void {
    this.hist.recordValue(latencyNs);
    if (latencyNs > this.maxNs) this.maxNs = latencyNs;
  }

  reset(): void {
    this.hist.reset();
    this.maxNs = 0;
  }

  /** All zeros when empty; percentiles are clamped to the exact max so p <= max. */
  summary(): LatencySummary {
    if (this.hist.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    const m = this.maxNs;
    const at = (p: number): number => Math.min(this.hist.getValueAtPercentile(p), m);
    return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: m };
  }

  encode(): string {
    return encodeIntoCompressedBase64(this.hist);
  }

  /** Throws on a corrupt encoding; the caller turns that into BAD_DOCUMENT. */
  static decode(encoded: string, maxNs: number): LatencyHistogram {
    const h = decodeFromCompressedBase64(encoded, 64, false);
    // A decoded histogram is sized to the values it holds and does not grow by default.
    h.autoResize = true;
    return new LatencyHistogram(h, maxNs);
  }
}

function newHistogram(): Histogram {
  return build({ bitBucketSize: 64, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}
