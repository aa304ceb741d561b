/**
 * A Prometheus histogram whose figures are kept elsewhere (plain counters on a hot
 * path, an HDR histogram, a platform's tally) and read when /metrics is scraped.
 * prom-client's registry takes any object with its metric interface (name, help,
 * type, get); the exposition is the same as its own Histogram: cumulative `_bucket`
 * series with `le` first, then `_sum` and `_count`.
 */
import type { Metric, Registry } from 'prom-client';

export interface HistogramSeries {
  labels: Record<string, string>;
  /** Per bound, the observations at most that bound and above the one before (not cumulative). */
  buckets: ArrayLike<number>;
  /** Observations above the last bound are in count only. */
  count: number;
  sum: number;
}

type Value = { labels: Record<string, string | number>; value: number; metricName: string };

export class ScrapedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly series: () => Iterable<HistogramSeries>,
    /** Registry.resetMetrics (tests): clears what series() reads, if anything. */
    private readonly onReset: () => void = () => {},
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    const values: Value[] = [];
    for (const s of this.series()) {
      if (s.count === 0) continue;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.buckets[i] ?? 0;
        values.push({ labels: { le, ...s.labels }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.onReset();
  }

  /** Registers it (the cast is because prom-client's typings list only its own four classes). */
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }
}
