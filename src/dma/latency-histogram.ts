/**
 * Latency distribution of completed DMA requests (protocol/README.md §8, `dma.stats`): an HDR
 * histogram of integer ns at 3 significant digits, pure JS (no WASM: the engine
 * must run the same everywhere and serialise exactly). 64-bit buckets because a
 * long experiment at 1e9 requests/s passes 2^31 counts in one bucket.
 *
 * The exact maximum is kept beside it: the histogram reports bucket upper bounds,
 * and a stall experiment asserts `max >= stall length` to the nanosecond.
 *
 * Recording goes through a small table of (value, count) pairs flushed with
 * recordValueWithCount: the library's per-value index arithmetic (log2, pow) costs
 * more than the rest of a simulated request, and DMA latencies take a handful of
 * distinct values (an IOTLB hit or a walk, plus the service time).
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram, type JsHistogram } from 'hdr-histogram-js';

/** One HDR bucket with counts: values in [fromNs, valueNs] (3 significant digits). */
export interface LatencyBucket {
  fromNs: number;
  valueNs: number;
  count: number;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

const PENDING = 16;

/**
 * The bucket arithmetic of hdr-histogram-js's JsHistogram (lowestEquivalentValue,
 * highestEquivalentValue) for the layout newHistogram builds: a unit of 1 ns and 3
 * significant digits, so 2048 sub-buckets, half of them 2^10. The same formulas
 * (Math.log2 included), without the library's per-call lookups: the engine asks for
 * a bucket per completion group (test/dma/latency-histogram.test.ts compares them).
 */
const SUB_BUCKET_HALF_MAGNITUDE = 10;
const SUB_BUCKET_COUNT = 2048;
function bucketShift(valueNs: number): number {
  return Math.max(Math.floor(Math.log2(valueNs)) - SUB_BUCKET_HALF_MAGNITUDE, 0);
}

export class LatencyHistogram {
  private hist: Histogram;
  private maxNs = 0;
  private readonly pendingValue = new Float64Array(PENDING);
  private readonly pendingCount = new Float64Array(PENDING);
  private pendingN = 0;

  constructor(hist?: Histogram, maxNs = 0) {
    this.hist = hist ?? newHistogram();
    this.maxNs = maxNs;
  }

  get count(): number {
    this.flush();
    return this.hist.totalCount;
  }

  get max(): number {
    return this.maxNs;
  }

  /**
   * The largest value that lands in the same bucket as `latencyNs` (3 significant
   * digits: a bucket of 1 ns below 2048 ns, of 1024 ns around 2 ms). Recording any
   * value of a bucket changes the same count, which lets a run of distinct latencies
   * be recorded once per bucket (`record` with a count and the run's exact maximum).
   */
  bucketTopNs(latencyNs: number): number {
    const unit = 2 ** bucketShift(latencyNs);
    const sub = Math.floor(latencyNs / unit);
    return sub * unit + (sub >= SUB_BUCKET_COUNT ? 2 * unit : unit) - 1;
  }

  /** The smallest value in the bucket of `latencyNs`. */
  bucketBottomNs(latencyNs: number): number {
    const unit = 2 ** bucketShift(latencyNs);
    return Math.floor(latencyNs / unit) * unit;
  }

  record(latencyNs: number, count = 1, maxNs = latencyNs): void {
    if (maxNs > this.maxNs) this.maxNs = maxNs;
    const n = this.pendingN;
    const values = this.pendingValue;
    for (let i = 0; i < n; i++) {
      if (values[i] === latencyNs) {
        this.pendingCount[i] = (this.pendingCount[i] as number) + count;
        return;
      }
    }
    if (n === PENDING) {
      this.flush();
      values[0] = latencyNs;
      this.pendingCount[0] = count;
      this.pendingN = 1;
      return;
    }
    values[n] = latencyNs;
    this.pendingCount[n] = count;
    this.pendingN = n + 1;
  }

  private flush(): void {
    for (let i = 0; i < this.pendingN; i++) this.hist.recordValueWithCount(this.pendingValue[i] as number, this.pendingCount[i] as number);
    this.pendingN = 0;
  }

  reset(): void {
    this.pendingN = 0;
    this.hist.reset();
    this.maxNs = 0;
  }

  /** All zeros when empty; percentiles are clamped to the exact max so p <= max. */
  summary(): LatencySummary {
    this.flush();
    if (this.hist.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    const m = this.maxNs;
    const at = (p: number): number => Math.min(this.hist.getValueAtPercentile(p), m);
    return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: m };
  }

  /**
   * Every bucket that holds values, ascending (dma.histogram): the HDR bucket's
   * range, its upper end clamped to the exact max so no bucket reaches past it.
   */
  buckets(): LatencyBucket[] {
    this.flush();
    const out: LatencyBucket[] = [];
    if (this.hist.totalCount === 0) return out;
    // Built with useWebAssembly false, so this is a JsHistogram and has the iterator.
    const h = this.hist as unknown as JsHistogram;
    const it = h.recordedValuesIterator;
    it.reset();
    while (it.hasNext()) {
      const v = it.next();
      const at = v.valueIteratedTo;
      out.push({ fromNs: h.lowestEquivalentValue(at), valueNs: Math.min(h.highestEquivalentValue(at), this.maxNs), count: v.countAtValueIteratedTo });
    }
    return out;
  }

  encode(): string {
    this.flush();
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
