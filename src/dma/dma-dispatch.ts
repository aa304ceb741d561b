/**
 * The DMA engine's first room (protocol/README.md §8): the state every path shares,
 * the event loop, and one request's way through the engine: arrival, the stall gate
 * (hold or abort), translation through the DmaPort, the decision and its counters.
 * The batched and closed-form paths (dma-batch.ts) and the stall release
 * (stall-release.ts) build on it; `DmaEngine` (dma-engine.ts) adds the public calls.
 * One engine is one object: each file adds the methods of its seam to the class
 * below it, and imports nothing above it.
 *
 * Everything runs in virtual time on the platform's shared clock. The inner loop of
 * every experiment is arrival -> DmaPort.access -> completion, so it allocates no
 * closure or promise per request: a stream arrival is one clock event whose target
 * is this engine (kind + data record), the translation fills one scratch record, and
 * a completion is four numbers in a CompletionQueue ring (no clock event: see
 * completion-queue.ts). Only requests held by a stall get an object each.
 */
import type { ClockEvent, EventTarget } from '../clock/event-queue.js';
import type { VirtualClock } from '../clock/virtual-clock.js';
import type { SeededRng } from '../util/rng.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { newDmaAccess, type DmaPort } from '../iommu/dma-port.js';
import { CompletionQueue, type CompletionSink } from './completion-queue.js';
import { countAll } from './count-all.js';
import { DmaCounters, FINAL, type FinalOutcome, type StallWindow } from './dma-stats.js';
import type { DmaStream } from './dma-stream.js';
import { StallGate, type Stall } from './stall-gate.js';
import type { HeldRequest } from './held-request.js';
import { DmaTimeline, TL } from './dma-timeline.js';

export type DmaOutcome = 'ok' | 'io_page_fault' | 'rmp_fault' | 'timeout' | 'aborted';

export interface DmaIssueParams {
  deviceId: number;
  iova: bigint;
  /** 1..4096; the request may not cross a 4 KB boundary. */
  bytes: number;
  write: boolean;
}

export interface DmaIssueResult {
  outcome: DmaOutcome;
  latencyNs: number;
  spa: number | null;
  reason: string;
}

/** A non-ok outcome, for the platform's `dma` event topic (ok is too hot to report). */
export interface DmaOutcomeEvent {
  deviceId: number;
  streamId: string | null;
  /** A number while below 2^53 (every default-platform IOVA), else a bigint. */
  iova: bigint | number;
  write: boolean;
  outcome: Exclude<DmaOutcome, 'ok'>;
  latencyNs: number;
  atNs: number;
}

export interface DmaEngineOptions {
  clock: VirtualClock;
  rng: SeededRng;
  port: DmaPort;
  /** Service time added to every translated request (protocol/README.md §8): 500 ns. */
  serviceNs?: number;
  /**
   * Fixed-rate streams run in batches between clock events (no heap event per
   * request): DmaEngine.defaults.batch (true). false = one clock event per arrival,
   * the reference the differential tests compare against.
   */
  batch?: boolean;
  /** Within a batch, intervals where nothing can change are computed in closed form: DmaEngine.defaults.closedForm (true). */
  closedForm?: boolean;
}

export interface DmaStatsFilter {
  deviceId?: number;
  streamId?: string;
}

export const DEFAULT_SERVICE_NS = 500;

/** Clock event kinds whose target is the engine. */
export const EV_ARRIVAL = 1;
export const EV_RELEASE = 2;
export const EV_TIMEOUT = 3;
const NO_SPA = -1;
const PAGE_BYTES = 4096;
/** Below this page number, pfn * 4096 + offset is an exact double. */
const SAFE_PFN = 2 ** 41;

export abstract class DmaDispatch implements EventTarget, CompletionSink {
  /** Defaults for new engines (tests flip them to run the reference path everywhere). */
  static readonly defaults = { batch: true, closedForm: true };

  readonly clock: VirtualClock;
  batch: boolean;
  closedForm: boolean;
  /** Arrivals the fast paths handled (not state: tests check the fast path ran). */
  readonly fastCounts = { batched: 0, closedForm: 0, heldRuns: 0, releasedInClosedForm: 0 };
  readonly rng: SeededRng;
  readonly port: DmaPort;
  serviceNs: number;
  /** Called for every non-ok outcome when it is decided (the platform's event bus). */
  onOutcome: ((r: DmaOutcomeEvent) => void) | undefined = undefined;

  /** Counts per 10 us bin and device (dma.timeline, trace counter tracks); cleared by resetStats and setState. */
  readonly timeline = new DmaTimeline();
  protected total = new DmaCounters();
  /** Per-device and per-stream counters by slot number (completion rings store slots). */
  protected slots: DmaCounters[] = [];
  protected deviceSlots = new Map<number, number>();
  protected streams = new Map<string, DmaStream>();
  protected nextStreamNum = 1;
  protected completions: CompletionQueue;
  protected gate = new StallGate();
  /** Held requests that will time out (their timeout event is pending). */
  protected timeouts = new Set<HeldRequest>();
  protected heldOrder = 0;

  protected readonly access = newDmaAccess();

  // The outcome of the last `dispatch` that decided at once (no allocation per request).
  protected rOutcome: DmaOutcome = 'ok';
  protected rLatencyNs = 0;
  /** The result's SPA, NO_SPA for none: a number field (number | null would box every SPA above 2^31 stored). */
  protected rSpa = NO_SPA;
  protected rReason = '';
  protected lastHeld: HeldRequest | null = null;

  constructor(opts: DmaEngineOptions) {
    this.clock = opts.clock;
    this.rng = opts.rng;
    this.port = opts.port;
    const s = opts.serviceNs ?? DEFAULT_SERVICE_NS;
    if (!Number.isSafeInteger(s) || s < 0) throw invalidArgument(`serviceNs must be an integer ns >= 0, got ${String(s)}`, { field: 'serviceNs' });
    this.serviceNs = s;
    this.batch = opts.batch ?? DmaDispatch.defaults.batch;
    this.closedForm = opts.closedForm ?? DmaDispatch.defaults.closedForm;
    this.completions = new CompletionQueue(this);
  }

  // ---- event loop -----------------------------------------------------------

  onClockEvent(ev: ClockEvent): void {
    switch (ev.kind) {
      case EV_ARRIVAL:
        this.arrive(ev.data as DmaStream);
        break;
      case EV_RELEASE:
        this.release(ev.data as Stall, ev);
        break;
      case EV_TIMEOUT:
        this.timeOut(ev.data as HeldRequest);
        break;
    }
  }

  onCompleted(latencyNs: number, deviceSlot: number, streamSlot: number, count: number, maxNs: number, doneNs: number): void {
    this.timeline.record(TL.COMPLETED, deviceSlot, doneNs, count);
    countAll.complete(this.total, this.slots[deviceSlot] as DmaCounters, streamSlot >= 0 ? (this.slots[streamSlot] as DmaCounters) : null, latencyNs, count, maxNs);
  }

  bucketTopNs(latencyNs: number): number {
    return this.total.latency.bucketTopNs(latencyNs);
  }

  bucketBottomNs(latencyNs: number): number {
    return this.total.latency.bucketBottomNs(latencyNs);
  }

  /** A fixed-rate stream's arrivals from now on, in batches (dma-batch.ts). */
  protected abstract arriveBatch(s: DmaStream): void;
  /** The end of a stall: its held requests go on (stall-release.ts). */
  protected abstract release(stall: Stall, ev: ClockEvent): void;
  /** A held request waited past its stall's completionTimeoutNs (stall-release.ts). */
  protected abstract timeOut(rec: HeldRequest): void;

  protected arrive(s: DmaStream): void {
    s.event = null;
    if (!s.active) return;
    if (this.batch && !s.isPoisson) {
      this.arriveBatch(s);
      return;
    }
    s.nextAccess(this.rng);
    this.dispatch(s.params.deviceId, s.deviceSlot, s, s.iovaPfn, s.pageOff, s.write);
    s.nextArrivalNs = this.clock.nowNs + s.nextGapNs(this.rng);
    s.event = this.clock.schedule(s.nextArrivalNs, this, EV_ARRIVAL, s);
  }

  /**
   * A request arriving now. Returns true when its outcome is decided now (in the
   * r* fields), false when a stall holds it (`lastHeld`).
   */
  protected dispatch(deviceId: number, deviceSlot: number, stream: DmaStream | null, iovaPfn: number, pageOff: number, write: boolean): boolean {
    const now = this.clock.nowNs;
    const dev = this.slots[deviceSlot] as DmaCounters;
    this.timeline.record(TL.ISSUED, deviceSlot, now);
    countAll.arrive(this.total, dev, stream === null ? null : stream.counters);
    if (this.gate.active.length > 0) {
      const stall = this.gate.governing(deviceId, now, this.port);
      if (stall !== null) {
        if (stall.policy === 'abort') {
          this.decide(deviceSlot, dev, stream, FINAL.ABORTED);
          this.setResult('aborted', 0, null, `aborted by a stall of ${stallName(stall)} (policy abort)`);
          this.emit(deviceId, stream, iovaPfn, pageOff, write);
          return true;
        }
        this.hold(stall, deviceId, deviceSlot, dev, stream, iovaPfn, pageOff, write, now, this.heldOrder++);
        return false;
      }
    }
    this.translate(deviceId, deviceSlot, dev, stream, iovaPfn, pageOff, write, now);
    return true;
  }

  /** Translates and checks now; an ok request completes after translation + service. */
  protected translate(deviceId: number, deviceSlot: number, dev: DmaCounters, stream: DmaStream | null, iovaPfn: number, pageOff: number, write: boolean, arrivalNs: number): void {
    const a = this.access;
    const now = this.clock.nowNs;
    this.port.access(deviceId, iovaPfn, write, a, pageOff);
    if (a.iotlbMiss) countAll.iotlbMiss(this.total, dev, stream === null ? null : stream.counters);
    const waitedNs = now - arrivalNs;
    if (a.outcome === 'ok') {
      const spanNs = a.translationNs + this.serviceNs;
      this.completions.push(now, spanNs, waitedNs + spanNs, deviceSlot, stream === null ? -1 : stream.streamSlot);
      this.setResult('ok', waitedNs + spanNs, a.spaPfn * PAGE_BYTES + pageOff, a.reason);
      return;
    }
    this.decide(deviceSlot, dev, stream, a.outcome === 'io_page_fault' ? FINAL.IO_PAGE_FAULT : FINAL.RMP_FAULT);
    this.setResult(a.outcome, waitedNs + a.translationNs, null, a.reason);
    this.emit(deviceId, stream, iovaPfn, pageOff, write);
  }

  private hold(stall: Stall, deviceId: number, deviceSlot: number, dev: DmaCounters, stream: DmaStream | null, iovaPfn: number, pageOff: number, write: boolean, arrivalNs: number, order: number): void {
    const rec: HeldRequest = {
      deviceId,
      deviceSlot,
      stream,
      iovaPfn,
      pageOff,
      write,
      arrivalNs,
      order,
      resolve: null,
      timeoutEvent: null,
      timeoutNs: stall.completionTimeoutNs,
      device: dev,
    };
    this.timeline.record(TL.HELD, deviceSlot, arrivalNs);
    countAll.hold(this.total, dev, stream === null ? null : stream.counters);
    this.wait(stall, rec);
    this.lastHeld = rec;
  }

  /** Queues a held request on `stall`, or arms its timeout if the wait would pass it. */
  protected wait(stall: Stall, rec: HeldRequest): void {
    stall.heldCount++;
    rec.timeoutNs = stall.completionTimeoutNs;
    if (stall.endNs - rec.arrivalNs > stall.completionTimeoutNs) {
      this.timeouts.add(rec);
      rec.timeoutEvent = this.clock.schedule(rec.arrivalNs + stall.completionTimeoutNs, this, EV_TIMEOUT, rec);
    } else {
      stall.held.push(rec);
    }
  }

  protected unwait(rec: HeldRequest): void {
    countAll.unwait(this.total, rec.device, rec.stream === null ? null : rec.stream.counters);
  }

  protected decide(deviceSlot: number, dev: DmaCounters, stream: DmaStream | null, outcome: FinalOutcome): void {
    this.timeline.record(TIMELINE_OF[outcome], deviceSlot, this.clock.nowNs);
    countAll.finish(this.total, dev, stream === null ? null : stream.counters, outcome);
  }

  protected setResult(outcome: DmaOutcome, latencyNs: number, spa: number | null, reason: string): void {
    this.rOutcome = outcome;
    this.rLatencyNs = latencyNs;
    this.rSpa = spa === null ? NO_SPA : spa;
    this.rReason = reason;
  }

  protected result(): DmaIssueResult {
    return { outcome: this.rOutcome, latencyNs: this.rLatencyNs, spa: this.rSpa === NO_SPA ? null : this.rSpa, reason: this.rReason };
  }

  /** Reports the outcome in the r* fields (never ok) to `onOutcome`. */
  protected emit(deviceId: number, stream: DmaStream | null, iovaPfn: number, pageOff: number, write: boolean): void {
    const hook = this.onOutcome;
    if (hook === undefined) return;
    hook({
      deviceId,
      streamId: stream === null ? null : stream.id,
      iova: iovaPfn < SAFE_PFN ? iovaPfn * PAGE_BYTES + pageOff : (BigInt(iovaPfn) << 12n) | BigInt(pageOff),
      write,
      outcome: this.rOutcome as Exclude<DmaOutcome, 'ok'>,
      latencyNs: this.rLatencyNs,
      atNs: this.clock.nowNs,
    });
  }

  // ---- bookkeeping ----------------------------------------------------------

  /** The device's counters slot, created on first use with the windows covering it now. */
  protected deviceSlot(deviceId: number): number {
    let slot = this.deviceSlots.get(deviceId);
    if (slot === undefined) {
      const c = new DmaCounters();
      c.stalls = this.windowsCovering(deviceId);
      slot = this.slots.push(c) - 1;
      this.deviceSlots.set(deviceId, slot);
      this.timeline.addDevice(slot, deviceId);
    }
    return slot;
  }

  /**
   * Windows (since the last reset) whose scope covers the device, judged by its
   * domain now: a device is only tracked from its first request, and the engine
   * cannot enumerate devices when a stall begins.
   */
  protected windowsCovering(deviceId: number): StallWindow[] {
    const domain = this.port.domainOf(deviceId);
    return this.total.stalls.filter((w) => w.scope === 'iommu' || w.domainId === domain);
  }

  protected streamById(streamId: string): DmaStream {
    const s = typeof streamId === 'string' ? this.streams.get(streamId) : undefined;
    if (s === undefined) throw new EmuError(ERROR_CODES.NOT_FOUND, `no stream ${String(streamId)}`, { field: 'streamId' });
    return s;
  }
}

/** FINAL outcome -> timeline kind. */
const TIMELINE_OF: Record<FinalOutcome, number> = {
  [FINAL.COMPLETED]: TL.COMPLETED,
  [FINAL.IO_PAGE_FAULT]: TL.IO_PAGE_FAULT,
  [FINAL.RMP_FAULT]: TL.RMP_FAULT,
  [FINAL.TIMEOUT]: TL.TIMEOUT,
  [FINAL.ABORTED]: TL.ABORTED,
};

export function stallName(s: Stall): string {
  return s.scope === 'iommu' ? 'the whole IOMMU' : `domain ${s.domainId}`;
}
