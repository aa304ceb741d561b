/**
 * trace.start / trace.stop: records the platform's events (the bus topics a trace
 * asked for) with their virtual times, for trace.export to turn into a
 * Chrome/Perfetto trace (perfetto-trace.ts). DMA counts per bin are not recorded
 * here: they come from the DMA timeline when the trace is exported.
 *
 * Bounded memory: at most `maxEvents` events (default 100,000, at most 1,000,000);
 * once full, later events are counted in `dropped` and not kept (as chrome://tracing's
 * "record until full"), so the start of an experiment is always complete.
 */
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import type { BusTopic, EventBus } from './event-bus.js';

/** What a trace can record; `iommu` also records IOMMU commands (an internal topic). */
export const TRACE_TOPICS = ['tmpm', 'fw', 'stall', 'iommu', 'dma'] as const;
export type TraceTopic = (typeof TRACE_TOPICS)[number];
export const TRACE_DEFAULT_MAX_EVENTS = 100_000;
export const TRACE_MAX_EVENTS = 1_000_000;

export interface TraceEvent {
  topic: BusTopic;
  atNs: number;
  data: Record<string, unknown>;
}

export interface TraceStartOptions {
  topics?: readonly TraceTopic[];
  maxEvents?: number;
  /** Counter-track bin, ns (a multiple of 10,000); default: chosen at export. */
  binNs?: number;
}

export interface TraceSnapshot {
  topics: TraceTopic[];
  maxEvents: number;
  binNs: number | undefined;
  startNs: number;
  /** null while recording. */
  stopNs: number | null;
  events: readonly TraceEvent[];
  dropped: number;
}

export class TraceRecorder {
  private trace: (TraceSnapshot & { events: TraceEvent[] }) | null = null;
  private off: (() => void) | null = null;

  constructor(private readonly bus: EventBus) {}

  get recording(): boolean {
    return this.off !== null;
  }

  /** Starts a new trace (a trace already running is replaced, its events discarded). */
  start(opts: TraceStartOptions, nowNs: number): { ok: true; topics: TraceTopic[]; maxEvents: number; startNs: number } {
    const topics = [...(opts.topics ?? TRACE_TOPICS)];
    for (const t of topics) if (!(TRACE_TOPICS as readonly string[]).includes(t)) throw invalidArgument(`unknown trace topic ${JSON.stringify(t)}; topics: ${TRACE_TOPICS.join(', ')}`, { path: ['topics'] });
    const maxEvents = opts.maxEvents ?? TRACE_DEFAULT_MAX_EVENTS;
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1 || maxEvents > TRACE_MAX_EVENTS) {
      throw invalidArgument(`maxEvents must be an integer in 1..${TRACE_MAX_EVENTS}, got ${String(maxEvents)}`, { path: ['maxEvents'] });
    }
    this.stopTap();
    const trace = { topics, maxEvents, binNs: opts.binNs, startNs: nowNs, stopNs: null, events: [] as TraceEvent[], dropped: 0 };
    this.trace = trace;
    const busTopics: BusTopic[] = [...topics];
    if (topics.includes('iommu')) busTopics.push('iommuCommand');
    this.off = this.bus.tap(busTopics, (topic, atNs, data) => {
      if (trace.events.length < trace.maxEvents) trace.events.push({ topic, atNs, data });
      else trace.dropped++;
    });
    return { ok: true, topics, maxEvents, startNs: nowNs };
  }

  /** Stops recording; the events stay for trace.export until the next trace.start. */
  stop(nowNs: number): { ok: true; events: number; dropped: number; startNs: number; stopNs: number } {
    const t = this.trace;
    if (t === null || !this.recording) throw new EmuError(ERROR_CODES.NOT_FOUND, 'no trace is recording: call trace.start first');
    this.stopTap();
    t.stopNs = nowNs;
    return { ok: true, events: t.events.length, dropped: t.dropped, startNs: t.startNs, stopNs: nowNs };
  }

  /** The current or last trace; NOT_FOUND when none was started. */
  snapshot(): TraceSnapshot {
    if (this.trace === null) throw new EmuError(ERROR_CODES.NOT_FOUND, 'no trace to export: call trace.start first');
    return this.trace;
  }

  /** Stops listening (platform disposed). */
  dispose(): void {
    this.stopTap();
  }

  private stopTap(): void {
    this.off?.();
    this.off = null;
  }
}
