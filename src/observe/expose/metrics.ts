/**
 * Prometheus metrics of the transport, in a registry of the server's own (never
 * prom-client's global one), so two servers in one process do not collide.
 * Label values are bounded: methods not in the table count as '(unknown)', and
 * platforms are capped by maxPlatforms.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { METHOD_LABEL_INVALID, METHOD_LABEL_UNKNOWN, type CallRecord } from './call-record.js';
import { ScrapedHistogram, type HistogramSeries } from '../scraped-histogram.js';
import { statusLabel } from './status-labels.js';

/** Seconds; RPC handlers mostly take microseconds, firmware calls in realtime mode up to seconds. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CALLS_NAME = 'smash_emu_rpc_calls_total';
/**
 * Outcome label of an error code outside the JSON-RPC codes (-32700, -32600..-32603)
 * and the server range (-32000..-32099): a fault rule's rpcError may carry any
 * integer, and 20,000 distinct codes once made 20,000 series that nothing removed.
 * Those all count here.
 */
export const OUTCOME_LABEL_OTHER = 'other';
/** The key under which such codes are counted (error codes are never 0). */
const OTHER_CODE = 0;

/** The code a call's outcome is counted under: itself when it is a standard or server code, else OTHER_CODE. */
function boundedCode(code: number): number {
  return code === -32700 || (code >= -32603 && code <= -32600) || (code >= -32099 && code <= -32000) ? code : OTHER_CODE;
}
const LATENCY_NAME = 'smash_emu_rpc_call_duration_seconds';

/**
 * One method's figures on one platform, counted in plain fields on the call path
 * and handed to prom-client only when /metrics is scraped (README.md "Performance"): prom-client's
 * inc/observe hash the label values on every call, labelled children included,
 * ~0.7 us a call, a tenth of the server's time for clock.now at 32 in flight.
 */
interface MethodStats {
  /** Calls answered 'ok' since the last scrape. */
  pendingOk: number;
  /** Calls answered with an emulated failure (a status or return code other than SUCCESS) since the last scrape. */
  pendingStatus: number;
  /** Status or return-code name (bounded: statusLabel) -> calls since the last scrape. */
  pendingNames: Map<string, number>;
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
  /** The same for smash_emu_rpc_status_total: (method, status) series per platform. */
  private readonly publishedStatuses = new Map<string, Map<string, [string, string]>>();
  private readonly calls = new Counter({
    name: CALLS_NAME,
    help: 'JSON-RPC requests processed, notifications included; outcome is "ok", "status" (answered with a status or return code other than SUCCESS) or the error code',
    labelNames: ['method', 'platform', 'outcome'] as const,
    registers: [this.registry],
    // Runs at scrape time: moves the counts taken since the last scrape into the counter.
    collect: () => this.publishCalls(),
  });
  private readonly statuses = new Counter({
    name: 'smash_emu_rpc_status_total',
    help: 'Calls answered with a status (SEV firmware, TMPM) or return code (instructions), by method and status name (names outside the code tables count as OTHER)',
    labelNames: ['method', 'platform', 'status'] as const,
    registers: [this.registry],
    collect: () => this.publishCalls(),
  });
  /** Registered where it stands, so /metrics lists it between the status counter and the connections gauge. */
  readonly latency = new ScrapedHistogram(
    LATENCY_NAME,
    'Wall time spent in a method handler',
    LATENCY_BUCKETS,
    () => this.latencySeries(),
    () => this.resetLatency(),
  ).register(this.registry);
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
        s = { pendingOk: 0, pendingStatus: 0, pendingNames: new Map(), pendingErrors: new Map(), timed, buckets: new Float64Array(LATENCY_BUCKETS.length), sum: 0, count: 0 };
        table.set(call.method, s);
      }
      const outcome = call.outcome;
      if (outcome === 'ok') s.pendingOk++;
      else if (outcome === 'status') s.pendingStatus++;
      else {
        const code = boundedCode(outcome);
        s.pendingErrors.set(code, (s.pendingErrors.get(code) ?? 0) + 1);
      }
      const name = call.statusName;
      if (name !== undefined) {
        const label = statusLabel(name);
        s.pendingNames.set(label, (s.pendingNames.get(label) ?? 0) + 1);
      }
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
      let statusSeries = this.publishedStatuses.get(platform);
      if (statusSeries === undefined) this.publishedStatuses.set(platform, (statusSeries = new Map()));
      const inc = (method: string, outcome: string, n: number) => {
        this.calls.inc({ method, platform, outcome }, n);
        series.set(`${method}\u0000${outcome}`, [method, outcome]);
      };
      for (const [method, s] of methods) {
        if (s.pendingOk > 0) inc(method, 'ok', s.pendingOk);
        s.pendingOk = 0;
        if (s.pendingStatus > 0) inc(method, 'status', s.pendingStatus);
        s.pendingStatus = 0;
        for (const [status, n] of s.pendingNames) {
          this.statuses.inc({ method, platform, status }, n);
          statusSeries.set(`${method}\u0000${status}`, [method, status]);
        }
        s.pendingNames.clear();
        for (const [code, n] of s.pendingErrors) inc(method, code === OTHER_CODE ? OUTCOME_LABEL_OTHER : String(code), n);
        s.pendingErrors.clear();
      }
    }
  }

  private *latencySeries(): Iterable<HistogramSeries> {
    for (const [platform, methods] of this.stats) {
      for (const [method, s] of methods) if (s.timed) yield { labels: { method, platform }, buckets: s.buckets, count: s.count, sum: s.sum };
    }
  }

  private resetLatency(): void {
    for (const methods of this.stats.values()) {
      for (const s of methods.values()) {
        s.buckets.fill(0);
        s.sum = 0;
        s.count = 0;
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
    for (const [method, status] of this.publishedStatuses.get(platform)?.values() ?? []) this.statuses.remove({ method, platform, status });
    this.publishedStatuses.delete(platform);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
