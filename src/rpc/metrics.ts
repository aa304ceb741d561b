/**
 * Prometheus metrics of the transport, in a registry of the server's own (never
 * prom-client's global one), so two servers in one process do not collide.
 * Label values are bounded: methods not in the table count as '(unknown)', and
 * platforms are capped by maxPlatforms.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Metric } from 'prom-client';
import type { CallRecord } from './envelope.js';
import { METHOD_LABEL_INVALID, METHOD_LABEL_UNKNOWN } from './envelope.js';

/** Seconds; RPC handlers mostly take microseconds, firmware calls in realtime mode up to seconds. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CALLS_NAME = 'smash_emu_rpc_calls_total';
const LATENCY_NAME = 'smash_emu_rpc_call_duration_seconds';

/**
 * One method's figures on one platform, counted in plain fields on the call path
 * and handed to prom-client only when /metrics is scraped (issue 4): prom-client's
 * inc/observe hash the label values on every call, labelled children included,
 * ~0.7 us a call, a tenth of the server's time for clock.now at 32 in flight.
 */
interface MethodStats {
  /** Calls answered 'ok' since the last scrape. */
  pendingOk: number;
  /** Error code -> calls since the last scrape. */
  pendingErrors: Map<number, number>;
  /** Whether calls are timed: not for '(unknown)' and '(invalid)', which run no handler. */
  timed: boolean;
  /** Per LATENCY_BUCKETS entry, calls whose time is at most that bound and above the one before (not cumulative). */
  buckets: Float64Array;
  sum: number;
  count: number;
}

export class RpcMetrics {
  readonly registry = new Registry();
  /** platform -> method -> figures; both bounded (maxPlatforms; the table plus two labels). */
  private readonly stats = new Map<string, Map<string, MethodStats>>();
  /** platform -> the (method, outcome) series the calls counter has for it, to remove them with the platform. */
  private readonly published = new Map<string, Map<string, [string, string]>>();
  private readonly calls = new Counter({
    name: CALLS_NAME,
    help: 'JSON-RPC requests processed, notifications included; outcome is "ok" or the error code',
    labelNames: ['method', 'platform', 'outcome'] as const,
    registers: [this.registry],
    // Runs at scrape time: moves the counts taken since the last scrape into the counter.
    collect: () => this.publishCalls(),
  });
  private readonly latency = registered(this.registry, new ScrapedHistogram(LATENCY_NAME, 'Wall time spent in a method handler', () => this.stats));
  private readonly connections = new Gauge({
    name: 'smash_emu_connections',
    help: 'Open WebSocket connections',
    labelNames: ['platform'] as const,
    registers: [this.registry],
  });
  private readonly cutOffs = new Counter({
    name: 'smash_emu_connections_cut_off_total',
    help: 'Connections closed with 1008 because unread notifications passed maxBufferedBytes',
    labelNames: ['platform'] as const,
    registers: [this.registry],
  });

  /** An `observe` for processFrame on one platform: counts in plain fields, nothing else. */
  observer(platform: string): (call: CallRecord) => void {
    let methods = this.stats.get(platform);
    if (methods === undefined) {
      methods = new Map();
      this.stats.set(platform, methods);
    }
    const table = methods;
    return (call) => {
      let s = table.get(call.method);
      if (s === undefined) {
        const timed = call.method !== METHOD_LABEL_UNKNOWN && call.method !== METHOD_LABEL_INVALID;
        s = { pendingOk: 0, pendingErrors: new Map(), timed, buckets: new Float64Array(LATENCY_BUCKETS.length), sum: 0, count: 0 };
        table.set(call.method, s);
      }
      const outcome = call.outcome;
      if (outcome === 'ok') s.pendingOk++;
      else s.pendingErrors.set(outcome, (s.pendingErrors.get(outcome) ?? 0) + 1);
      if (s.timed) {
        const seconds = call.seconds;
        s.sum += seconds;
        s.count++;
        // The first bound at or above the value, as prom-client's Histogram; above the last one counts in +Inf only.
        let i = 0;
        while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] as number)) i++;
        if (i < LATENCY_BUCKETS.length) s.buckets[i] = (s.buckets[i] as number) + 1;
      }
    };
  }

  private publishCalls(): void {
    for (const [platform, methods] of this.stats) {
      let series = this.published.get(platform);
      if (series === undefined) this.published.set(platform, (series = new Map()));
      const inc = (method: string, outcome: string, n: number) => {
        this.calls.inc({ method, platform, outcome }, n);
        series.set(`${method}\u0000${outcome}`, [method, outcome]);
      };
      for (const [method, s] of methods) {
        if (s.pendingOk > 0) inc(method, 'ok', s.pendingOk);
        s.pendingOk = 0;
        for (const [code, n] of s.pendingErrors) inc(method, String(code), n);
        s.pendingErrors.clear();
      }
    }
  }

  connectionOpened(platform: string): void {
    this.connections.inc({ platform });
  }

  connectionClosed(platform: string): void {
    this.connections.dec({ platform });
  }

  cutOff(platform: string): void {
    this.cutOffs.inc({ platform });
  }

  /** Drops every series of a deleted platform, so /metrics does not grow with platforms that are gone. */
  forgetPlatform(platform: string): void {
    this.stats.delete(platform);
    this.connections.remove({ platform });
    this.cutOffs.remove({ platform });
    for (const [method, outcome] of this.published.get(platform)?.values() ?? []) this.calls.remove({ method, platform, outcome });
    this.published.delete(platform);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * prom-client's registry takes any object with its metric interface (name, help,
 * type, get); the cast is because its typings list only its own four classes.
 */
function registered<T extends { name: string }>(registry: Registry, metric: T): T {
  registry.registerMetric(metric as unknown as Metric);
  return metric;
}

/**
 * The latency histogram as prom-client's registry expects a metric (the same
 * exposition as its Histogram: cumulative `_bucket` series with `le` first, then
 * `_sum` and `_count`), read at scrape time from the counts RpcMetrics keeps.
 */
class ScrapedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly stats: () => Map<string, Map<string, MethodStats>>,
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [platform, methods] of this.stats()) {
      for (const [method, s] of methods) {
        if (!s.timed || s.count === 0) continue;
        let acc = 0;
        LATENCY_BUCKETS.forEach((bound, i) => {
          acc += s.buckets[i] as number;
          values.push({ labels: { le: bound, method, platform }, value: acc, metricName: `${this.name}_bucket` });
        });
        values.push({ labels: { le: '+Inf', method, platform }, value: s.count, metricName: `${this.name}_bucket` });
        values.push({ labels: { method, platform }, value: s.sum, metricName: `${this.name}_sum` });
        values.push({ labels: { method, platform }, value: s.count, metricName: `${this.name}_count` });
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Registry.resetMetrics: clears the figures. */
  reset(): void {
    for (const methods of this.stats().values()) {
      for (const s of methods.values()) {
        s.buckets.fill(0);
        s.sum = 0;
        s.count = 0;
      }
    }
  }
}
