/**
 * Prometheus metrics of the transport, in a registry of the server's own (never
 * prom-client's global one), so two servers in one process do not collide.
 * Label values are bounded: methods not in the table count as '(unknown)', and
 * platforms are capped by maxPlatforms.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallRecord } from './envelope.js';
import { METHOD_LABEL_INVALID, METHOD_LABEL_UNKNOWN } from './envelope.js';

/** Seconds; RPC handlers mostly take microseconds, firmware calls in realtime mode up to seconds. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class RpcMetrics {
  readonly registry = new Registry();
  private readonly calls = new Counter({
    name: 'smash_emu_rpc_calls_total',
    help: 'JSON-RPC requests processed, notifications included; outcome is "ok" or the error code',
    labelNames: ['method', 'platform', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'smash_emu_rpc_call_duration_seconds',
    help: 'Wall time spent in a method handler',
    labelNames: ['method', 'platform'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
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

  /** An `observe` for processFrame on one platform. */
  observer(platform: string): (call: CallRecord) => void {
    return (call) => {
      this.calls.inc({ method: call.method, platform, outcome: String(call.outcome) });
      if (call.method !== METHOD_LABEL_UNKNOWN && call.method !== METHOD_LABEL_INVALID) {
        this.latency.observe({ method: call.method, platform }, call.seconds);
      }
    };
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

  get contentType(): string {
    return this.registry.contentType;
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
