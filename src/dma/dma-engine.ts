/**
 * The DMA engine (protocol/README.md §8, §4.5, and PSMASH_IO's effect, §4.3.5):
 * one-shot requests (`dma.issue`), streams (`dma.startStream`), the stall gate the
 * TMPM closes around a smash, and statistics (`dma.stats`).
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
import { LatencyHistogram } from './latency-histogram.js';
import { countAll } from './count-all.js';
import { DmaCounters, FINAL, emptyStatsView, type DmaStatsView, type FinalOutcome, type StallWindow } from './dma-stats.js';
import { DmaStream, checkDeviceId, checkStreamParams, type StreamParams } from './dma-stream.js';
import { Stall, StallGate, checkStallParams, type StallHandle, type StallParams } from './stall-gate.js';
import type { HeldRequest } from './held-request.js';
import { readDmaState, writeDmaState, type DmaEngineState } from './dma-state.js';
import { DmaTimeline, TIMELINE_BIN_NS, TIMELINE_RETAINED_BINS, TL } from './dma-timeline.js';
import { jumpRng } from '../util/rng-jump.js';
import { HeldMerge } from './held-runs.js';
import type { RngState } from '../util/rng.js';

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

const EV_ARRIVAL = 1;
const EV_RELEASE = 2;
const NO_SPA = -1;
/** Released requests between two looks at the chunk's wall time (VirtualClock.outOfTime). */
const RELEASES_PER_TIME_CHECK = 256;

/** A release stops as if out of budget once its chunk has used its wall time (checked every few hundred requests). */
function outOfTime(clock: VirtualClock, work: number): boolean {
  return work > 0 && work % RELEASES_PER_TIME_CHECK === 0 && clock.outOfTime();
}
const EV_TIMEOUT = 3;

const PAGE_BYTES = 4096;
/** Below this page number, pfn * 4096 + offset is an exact double. */
const SAFE_PFN = 2 ** 41;
/** The closed form verifies every page a stream can touch: only for ranges up to this many pages. */
const CLOSED_FORM_MAX_PAGES = 1 << 16;
/** A batch remembers known IOTLB hits per page for streams over at most this many pages. */
const MEMO_MAX_PAGES = 1 << 20;
/** ...and only for intervals of at least this many arrivals (and twice the pages). */
const CLOSED_FORM_MIN_ARRIVALS = 256;
/** A batch stops asking DmaPort.peekHit after this many answers in a row found no hit. */
const PEEK_GIVE_UP = 64;

export class DmaEngine implements EventTarget, CompletionSink {
  /** Defaults for new engines (tests flip them to run the reference path everywhere). */
  static readonly defaults = { batch: true, closedForm: true };

  readonly clock: VirtualClock;
  batch: boolean;
  closedForm: boolean;
  /** Arrivals the fast paths handled (not state: tests check the fast path ran). */
  readonly fastCounts = { batched: 0, closedForm: 0, heldRuns: 0 };
  readonly rng: SeededRng;
  readonly port: DmaPort;
  serviceNs: number;
  /** Called for every non-ok outcome when it is decided (the platform's event bus). */
  onOutcome: ((r: DmaOutcomeEvent) => void) | undefined = undefined;

  /** Counts per 10 us bin and device (dma.timeline, trace counter tracks); cleared by resetStats and setState. */
  readonly timeline = new DmaTimeline();
  private total = new DmaCounters();
  /** Per-device and per-stream counters by slot number (completion rings store slots). */
  private slots: DmaCounters[] = [];
  private deviceSlots = new Map<number, number>();
  private streams = new Map<string, DmaStream>();
  private nextStreamNum = 1;
  private completions: CompletionQueue;
  private gate = new StallGate();
  /** Held requests that will time out (their timeout event is pending). */
  private timeouts = new Set<HeldRequest>();
  private heldOrder = 0;

  private readonly access = newDmaAccess();
  /** Scratch of arriveBatch: pre-drawn PRNG values, page memo. */
  private readonly draws = new Uint32Array(4096);
  private memo = new Uint32Array(0);
  private hitTimes = new Float64Array(1024);
  private memoEpoch = 0;
  // The outcome of the last `dispatch` that decided at once (no allocation per request).
  private rOutcome: DmaOutcome = 'ok';
  private rLatencyNs = 0;
  /** The result's SPA, NO_SPA for none: a number field (number | null would box every SPA above 2^31 stored). */
  private rSpa = NO_SPA;
  private rReason = '';
  private lastHeld: HeldRequest | null = null;

  constructor(opts: DmaEngineOptions) {
    this.clock = opts.clock;
    this.rng = opts.rng;
    this.port = opts.port;
    const s = opts.serviceNs ?? DEFAULT_SERVICE_NS;
    if (!Number.isSafeInteger(s) || s < 0) throw invalidArgument(`serviceNs must be an integer ns >= 0, got ${String(s)}`, { field: 'serviceNs' });
    this.serviceNs = s;
    this.batch = opts.batch ?? DmaEngine.defaults.batch;
    this.closedForm = opts.closedForm ?? DmaEngine.defaults.closedForm;
    this.completions = new CompletionQueue(this);
  }

  // ---- one-shot requests ----------------------------------------------------

  /**
   * One request arriving now. Throws INVALID_ARGUMENT (and changes nothing) on a bad
   * deviceId, iova or size. The promise resolves at once with the outcome when it is
   * known now (an ok request then stays in flight until now + latencyNs); a request
   * held by a stall resolves when it is released or times out.
   */
  issue(p: DmaIssueParams): Promise<DmaIssueResult> {
    checkDeviceId(p.deviceId);
    if (typeof p.iova !== 'bigint' || p.iova < 0n || p.iova >= 1n << 64n) {
      throw invalidArgument(`iova must be a bigint in [0, 2^64), got ${String(p.iova)}`, { field: 'iova' });
    }
    if (typeof p.bytes !== 'number' || !Number.isInteger(p.bytes) || p.bytes < 1) {
      throw invalidArgument(`bytes must be an integer >= 1, got ${String(p.bytes)}`, { field: 'bytes' });
    }
    const pageOff = Number(p.iova & 0xfffn);
    if (pageOff + p.bytes > PAGE_BYTES) {
      throw invalidArgument(`a DMA request may not cross a 4 KB boundary: iova 0x${p.iova.toString(16)} + ${p.bytes} bytes does`, { field: 'bytes' });
    }
    if (typeof p.write !== 'boolean') throw invalidArgument(`write must be a boolean, got ${String(p.write)}`, { field: 'write' });
    const slot = this.deviceSlot(p.deviceId);
    if (this.dispatch(p.deviceId, slot, null, Number(p.iova >> 12n), pageOff, p.write)) {
      return Promise.resolve(this.result());
    }
    const rec = this.lastHeld as HeldRequest;
    return new Promise((resolve) => {
      rec.resolve = resolve;
    });
  }

  // ---- streams --------------------------------------------------------------

  /** Starts a stream whose first request arrives at now + one gap. Returns its id. */
  startStream(p: StreamParams): string {
    const params = checkStreamParams(p);
    const id = `s${this.nextStreamNum}`;
    const deviceSlot = this.deviceSlot(params.deviceId);
    const counters = new DmaCounters();
    const streamSlot = this.slots.push(counters) - 1;
    const s = new DmaStream(id, params, counters, this.slots[deviceSlot] as DmaCounters, streamSlot, deviceSlot);
    this.nextStreamNum++;
    this.streams.set(id, s);
    s.nextArrivalNs = this.clock.nowNs + s.nextGapNs(this.rng);
    s.event = this.clock.schedule(s.nextArrivalNs, this, EV_ARRIVAL, s);
    return id;
  }

  /** No more arrivals; requests in flight finish. Stopping a stopped stream is a no-op. */
  stopStream(streamId: string): void {
    const s = this.streamById(streamId);
    if (!s.active) return;
    s.active = false;
    if (s.event !== null) s.event.cancelled = true;
    s.event = null;
  }

  /** Requests per second of the running streams together (what a stall may catch; protocol/README.md §1.3). */
  activeStreamRatePerSec(perRequestOnly = false): number {
    let rate = 0;
    for (const s of this.streams.values()) if (s.active && !(perRequestOnly && s.exactRate)) rate += s.params.ratePerSec;
    return rate;
  }

  /** Ids of every stream started (stopped ones keep their stats). */
  streamIds(): string[] {
    return [...this.streams.keys()];
  }

  // ---- stalls ---------------------------------------------------------------

  /**
   * The TMPM's stall (protocol/README.md §4.3.5, Effect): from startNs (now) to endNs,
   * requests in scope are held or aborted. The release at endNs is a clock event
   * scheduled now; it translates held requests at endNs, so they see the tables the
   * TMPM swapped at startNs.
   */
  beginStall(p: StallParams): StallHandle {
    checkStallParams(p, this.clock.nowNs);
    const s = new Stall(this.gate.nextId++, p.scope, p.domainId, p.startNs, p.endNs, p.policy, p.completionTimeoutNs);
    this.gate.active.push(s);
    this.total.stalls.push(s.window);
    for (const [deviceId, slot] of this.deviceSlots) {
      if (s.scope === 'iommu' || this.port.domainOf(deviceId) === s.domainId) (this.slots[slot] as DmaCounters).stalls.push(s.window);
    }
    s.releaseEvent = this.clock.schedule(s.endNs, this, EV_RELEASE, s);
    return s;
  }

  /** The stall with this id while it has not been released (a restored smash links to it). */
  activeStall(id: number): StallHandle | undefined {
    return this.gate.active.find((s) => s.id === id);
  }

  // ---- statistics -----------------------------------------------------------

  /**
   * `dma.stats`: the whole platform, one device, or one stream (whose stall windows
   * are its device's). Unknown streamId: NOT_FOUND; a device with no traffic yet gets
   * zeros and the windows that cover it now.
   */
  stats(filter: DmaStatsFilter = {}): DmaStatsView {
    const { counters, stream } = this.countersFor(filter);
    if (stream !== null) return stream.counters.view(stream.deviceCounters.stalls);
    if (counters === null) return emptyStatsView(this.windowsCovering(filter.deviceId as number));
    return counters.view();
  }

  /**
   * The latency histogram behind `stats` for the same filter (dma.histogram), with
   * completions due by now counted.
   */
  latencyHistogram(filter: DmaStatsFilter = {}): LatencyHistogram {
    const { counters } = this.countersFor(filter);
    return counters === null ? new LatencyHistogram() : counters.latency;
  }

  /**
   * The counters a `stats` filter names, completions due by now counted: a stream's
   * (`stream` set), a device's (null before its first request), or the platform's.
   * Unknown streamId: NOT_FOUND; a streamId with another device's deviceId: -32602.
   */
  private countersFor(filter: DmaStatsFilter): { counters: DmaCounters | null; stream: DmaStream | null } {
    this.completions.settle(this.clock.nowNs);
    if (filter.streamId !== undefined) {
      const s = this.streamById(filter.streamId);
      if (filter.deviceId !== undefined && filter.deviceId !== s.params.deviceId) {
        throw invalidArgument(`stream ${s.id} belongs to device ${s.params.deviceId}, not ${filter.deviceId}`, { field: 'deviceId' });
      }
      return { counters: s.counters, stream: s };
    }
    if (filter.deviceId !== undefined) {
      checkDeviceId(filter.deviceId);
      const slot = this.deviceSlots.get(filter.deviceId);
      return { counters: slot === undefined ? null : (this.slots[slot] as DmaCounters), stream: null };
    }
    return { counters: this.total, stream: null };
  }

  /** Completions due by now counted (before reading the timeline). */
  settle(): void {
    this.completions.settle(this.clock.nowNs);
  }

  /**
   * `dma.resetStats`: zeroes counters, histograms and closed stall windows everywhere
   * (streams included). Requests still in flight stay counted: afterwards issued =
   * inFlight and held = the requests still waiting, so the identity holds when they
   * finish. Windows of stalls still running are kept.
   */
  resetStats(): void {
    this.completions.settle(this.clock.nowNs);
    const keep = (w: StallWindow): boolean => this.gate.isActive(w);
    this.total.reset(keep);
    for (const c of this.slots) c.reset(keep);
    this.timeline.reset();
  }

  // ---- state ----------------------------------------------------------------

  /** A JSON-safe document to continue identically after `setState` (see dma-state.ts). */
  getState(): DmaEngineState {
    this.completions.settle(this.clock.nowNs);
    return writeDmaState({
      serviceNs: this.serviceNs,
      nextStreamNum: this.nextStreamNum,
      heldOrder: this.heldOrder,
      total: this.total,
      slots: this.slots,
      deviceSlots: this.deviceSlots,
      streams: this.streams,
      gate: this.gate,
      completions: this.completions,
      timeouts: this.timeouts,
    });
  }

  /**
   * Replaces this engine's state. Validates everything first: a bad document throws
   * BAD_DOCUMENT and changes nothing. The platform has restored clock.nowNs and
   * cleared the clock's queue; this re-schedules the engine's own events (stream
   * arrivals, stall releases, timeouts) in their original relative order. Held
   * `issue` promises of the old engine are not carried over.
   */
  setState(doc: unknown): void {
    const parts = readDmaState(doc, this.clock.nowNs, this);
    for (const s of this.streams.values()) if (s.event !== null) s.event.cancelled = true;
    for (const s of this.gate.active) if (s.releaseEvent !== null) s.releaseEvent.cancelled = true;
    for (const r of this.timeouts) if (r.timeoutEvent !== null) r.timeoutEvent.cancelled = true;
    this.serviceNs = parts.serviceNs;
    this.nextStreamNum = parts.nextStreamNum;
    this.heldOrder = parts.heldOrder;
    this.total = parts.total;
    this.slots = parts.slots;
    this.deviceSlots = parts.deviceSlots;
    this.timeline.clear();
    for (const [deviceId, slot] of this.deviceSlots) this.timeline.addDevice(slot, deviceId);
    this.streams = parts.streams;
    this.gate = parts.gate;
    this.completions = parts.completions;
    this.timeouts = parts.timeouts;
    for (const e of parts.events) {
      const ev = this.clock.schedule(e.atNs, this, e.kind === 'arrival' ? EV_ARRIVAL : e.kind === 'release' ? EV_RELEASE : EV_TIMEOUT, e.data, e.seq);
      if (e.data instanceof DmaStream) e.data.event = ev;
      else if (e.data instanceof Stall) e.data.releaseEvent = ev;
      else e.data.timeoutEvent = ev;
    }
  }

  // ---- event loop -----------------------------------------------------------

  onClockEvent(ev: ClockEvent): void {
    switch (ev.kind) {
      case EV_ARRIVAL: this.arrive(ev.data as DmaStream); break;
      case EV_RELEASE: this.release(ev.data as Stall, ev); break;
      case EV_TIMEOUT: this.timeOut(ev.data as HeldRequest); break;
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

  private arrive(s: DmaStream): void {
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
   * A fixed-rate stream's arrivals from now up to the next other clock event (or the
   * end of the running advance, or the chunk's work budget), without a heap event
   * each. Identical to one event per arrival: each arrival runs at its own time with
   * the same draws and the same dispatch; the clock's event counter (`nextSeq`) moves
   * as if each next arrival had been scheduled; nothing else can run in between,
   * since every other event is later than the batch. Arrivals that fault or meet a
   * stall simply take the exact per-request path inside the batch.
   */
  private arriveBatch(s: DmaStream): void {
    const clock = this.clock;
    const q = clock.queue;
    const horizon = clock.horizonNs;
    const budget = clock.workLeft();
    const rng = this.rng;
    const port = this.port;
    const deviceId = s.params.deviceId;
    const deviceSlot = s.deviceSlot;
    // Known ok IOTLB hits of this batch, per page and direction (bits 1 read, 2 write;
    // bits 31:2 the epoch that wrote them): valid while the port's version holds and no
    // stall covers the device (stalls begin and end only at events, outside a batch).
    const memo = port.version !== undefined && s.pageCount <= MEMO_MAX_PAGES && (this.gate.active.length === 0 || this.gate.governing(deviceId, clock.nowNs, port) === null) ? this.memoFor(s) : null;
    let memoVersion = memo === null ? 0 : (port.version as () => number).call(port);
    const peek = port.peekHit;
    // Peeks in a row that found no hit: a stream of first touches (every request
    // walks) stops peeking for the rest of the batch. Speed only: either way each
    // request gets the same accounting.
    let peekMisses = 0;
    let epoch = this.newMemoEpoch();
    let hitSpanNs = -1;
    const firstPfn = s.firstPfn;
    // The stream's draws, taken from the PRNG a block at a time; `used` of `drawn` consumed.
    const per = s.drawsPerRequest;
    const draws = this.draws;
    const block = Math.floor(draws.length / Math.max(1, per)) * per;
    let rngAt = per === 0 ? null : rng.getState();
    let drawn = 0;
    let used = 0;
    // Known hits not yet counted: their arrival times (they complete hitSpanNs later).
    let pending = 0;
    // Arrivals continued past whose clock events are not yet counted in nextSeq.
    let seqOwed = 0;
    let nextLive = nextLiveAtNs(q);
    if (memo === null && this.closedForm && this.holdRun(s, clock.nowNs, Math.min(horizon, nextLive - 1))) return;
    let batched = 0;
    let work = 0;
    let t = clock.nowNs;
    // The loop below may try the closed form (when the stream's backoff runs out).
    const closedFormExact = this.closedForm && s.exactRate;
    for (;;) {
      let next: number;
      let n = 0;
      if (this.closedForm && s.exactRate && s.closedFormWait <= 0 && !this.closedFormWorthIt(s, t, Math.min(horizon, nextLive - 1))) {
        s.closedFormWait = CLOSED_FORM_MIN_ARRIVALS;
      } else if (this.closedForm && s.exactRate && s.closedFormWait <= 0) {
        q.nextSeq += seqOwed;
        seqOwed = 0;
        pending = this.settleKnownHits(s, pending, hitSpanNs, t);
        clock.nowNs = t;
        n = this.closedFormRun(s, t, horizon, used < drawn ? rngAt : null, used);
      }
      if (n > 0) {
        // closedFormRun left the PRNG after the run's draws: start a fresh block.
        rngAt = per === 0 ? null : rng.getState();
        drawn = used = 0;
        this.fastCounts.closedForm += n;
        q.nextSeq += n - 1;
        const t0 = t;
        clock.nowNs = t = s.arrivalAt(t0, n - 1);
        next = s.skipArrivals(t0, n);
        work++;
      } else {
        if (per > 0 && used === drawn) {
          rngAt = rng.getState();
          rng.fill(draws, block);
          drawn = block;
          used = 0;
        }
        used = s.accessFromDraws(draws, used);
        const pfn = s.iovaPfn;
        const bit = s.write ? 2 : 1;
        const m = memo === null ? 0 : (memo[pfn - firstPfn] as number);
        let known = hitSpanNs >= 0 && (m & bit) !== 0 && m >>> 2 === epoch;
        if (!known && memo !== null && peek !== undefined && peekMisses < PEEK_GIVE_UP) {
          // Not known yet: the port says without side effect whether the access is an
          // ok IOTLB hit (DmaPort.peekHit). One is, with a hit's span, exactly what
          // dispatch would account for it (a hit changes nothing), so it joins the
          // known hits: each page and direction is learnt once per batch without the
          // exact path's per-request bookkeeping.
          const ns = peek.call(port, deviceId, pfn, s.write);
          if (ns >= 0 && (hitSpanNs < 0 || ns + this.serviceNs === hitSpanNs)) {
            if (hitSpanNs < 0) hitSpanNs = ns + this.serviceNs;
            memo[pfn - firstPfn] = ((epoch << 2) | (m >>> 2 === epoch ? m & 3 : 0) | bit) >>> 0;
            known = true;
            peekMisses = 0;
          } else peekMisses++;
        }
        if (known) {
          // A known ok hit: counted in bulk by settleKnownHits.
          if (pending === this.hitTimes.length) this.growHitTimes();
          this.hitTimes[pending++] = t;
        } else {
          // The exact path, with everything before it accounted as one-per-request would have.
          q.nextSeq += seqOwed;
          seqOwed = 0;
          pending = this.settleKnownHits(s, pending, hitSpanNs, t);
          clock.nowNs = t;
          const decided = this.dispatch(deviceId, deviceSlot, s, pfn, s.pageOff, s.write);
          nextLive = nextLiveAtNs(q);
          if (memo !== null) {
            const v = (port.version as () => number).call(port);
            if (v !== memoVersion) {
              epoch = this.newMemoEpoch();
              memoVersion = v;
            }
            if (decided && this.rOutcome === 'ok' && !this.access.iotlbMiss) {
              const span = this.access.translationNs + this.serviceNs;
              if (hitSpanNs < 0) hitSpanNs = span;
              if (span === hitSpanNs) {
                const old = memo[pfn - firstPfn] as number;
                memo[pfn - firstPfn] = ((epoch << 2) | (old >>> 2 === epoch ? old & 3 : 0) | bit) >>> 0;
              }
            }
          }
        }
        next = t + s.nextGapNs(rng);
        s.closedFormWait--;
        batched++;
        work++;
        if (known) {
          // Line rate's common case: the next arrivals are known hits too. They run
          // here, the steps of the loop around without its other branches, up to the
          // first that is not a known hit (its draws and cursor given back, so the
          // loop around takes it afresh) or where the loop around would stop or try
          // the closed form.
          const known2 = memo as Uint32Array;
          let times = this.hitTimes;
          // Nothing in here can stop the stream or schedule an event: the loop around's
          // limits are fixed (arrivals left in the budget and before the closed form's
          // turn, the horizon, the next event), and its per-arrival counters are added
          // once at the end.
          const kMax = Math.min(budget - work, closedFormExact ? s.closedFormWait : Infinity);
          let k = 0;
          while (k < kMax && next <= horizon && next < nextLive) {
            if (per > 0 && used === drawn) {
              rngAt = rng.getState();
              rng.fill(draws, block);
              drawn = block;
              used = 0;
            }
            const usedBefore = used;
            const cursorBefore = s.cursor;
            used = s.accessFromDraws(draws, used);
            const mk = known2[s.iovaPfn - firstPfn] as number;
            if ((mk & (s.write ? 2 : 1)) === 0 || mk >>> 2 !== epoch) {
              used = usedBefore;
              s.cursor = cursorBefore;
              break;
            }
            t = next;
            if (pending === times.length) {
              this.growHitTimes();
              times = this.hitTimes;
            }
            times[pending++] = t;
            next = t + s.nextGapNs(rng);
            k++;
          }
          seqOwed += k;
          batched += k;
          work += k;
          s.closedFormWait -= k;
        }
      }
      s.nextArrivalNs = next;
      if (!s.active || work >= budget || next > horizon || next >= nextLive) break;
      // The arrival event one-per-request would have scheduled and popped at once.
      seqOwed++;
      t = next;
    }
    q.nextSeq += seqOwed;
    clock.nowNs = t;
    this.settleKnownHits(s, pending, hitSpanNs, t);
    this.fastCounts.batched += batched;
    // Leave the PRNG after the draws used, not the whole block.
    if (rngAt !== null && used < drawn) {
      rng.setState(rngAt);
      if (used > 0) rng.fill(draws, used);
    }
    if (work > 1) clock.spend(work - 1);
    if (s.active) s.event = clock.schedule(s.nextArrivalNs, this, EV_ARRIVAL, s);
  }

  /**
   * Accounts `n` known ok hits whose arrival times are hitTimes[0..n), as of time
   * `nowNs`: counted as issued, those due by now completed (one histogram record with
   * a count), the rest pushed as pending completions. Returns 0 (none left pending).
   */
  private settleKnownHits(s: DmaStream, n: number, spanNs: number, nowNs: number): number {
    if (n === 0) return 0;
    const dev = this.slots[s.deviceSlot] as DmaCounters;
    const times = this.hitTimes;
    // Arrival times only grow: the ones completed by now are a prefix (bisected).
    let done = 0;
    let notDone = n;
    while (done < notDone) {
      const mid = (done + notDone) >>> 1;
      if ((times[mid] as number) + spanNs <= nowNs) done = mid + 1;
      else notDone = mid;
    }
    countAll.arrive(this.total, dev, s.counters, n);
    if (done > 0) countAll.complete(this.total, dev, s.counters, spanNs, done);
    this.port.countHits?.(n);
    this.timeline.recordSorted(TL.ISSUED, s.deviceSlot, times, 0, n, 0);
    this.timeline.recordSorted(TL.COMPLETED, s.deviceSlot, times, 0, done, spanNs);
    for (let k = done; k < n; k++) this.completions.push(times[k] as number, spanNs, spanNs, s.deviceSlot, s.streamSlot);
    return 0;
  }

  private growHitTimes(): void {
    const bigger = new Float64Array(this.hitTimes.length * 2);
    bigger.set(this.hitTimes);
    this.hitTimes = bigger;
  }

  /**
   * Arithmetic holds: when a hold stall governs the stream's device for the whole
   * interval up to the next event and none of its arrivals would time out, the
   * arrivals become one HeldRun (held-runs.ts) instead of an object each: counted as
   * issued, held and waiting, the PRNG jumped past their draws, replayed at release.
   * Returns false (nothing done) when it does not apply.
   */
  private holdRun(s: DmaStream, t: number, limit: number): boolean {
    if (!s.exactRate || this.gate.active.length === 0 || !this.closedFormWorthIt(s, t, limit)) return false;
    const stall = this.gate.governing(s.params.deviceId, t, this.port);
    if (stall === null || stall.policy !== 'hold' || stall.endNs - t > stall.completionTimeoutNs) return false;
    const n = Math.min(s.arrivalsThrough(t, limit), 2 ** 40);
    const clock = this.clock;
    const dev = this.slots[s.deviceSlot] as DmaCounters;
    stall.runs.push({
      stream: s, deviceSlot: s.deviceSlot, device: dev, count: n, firstArrivalNs: t, acc: s.acc, cursor: s.cursor,
      rng: this.rng.getState(), order: this.heldOrder, timeoutNs: stall.completionTimeoutNs, atIndex: stall.held.length,
    });
    this.heldOrder += n;
    countAll.arrive(this.total, dev, s.counters, n);
    countAll.hold(this.total, dev, s.counters, n);
    stall.heldCount += n;
    this.timelineRun(TL.ISSUED, s, t, n, 0);
    this.timelineRun(TL.HELD, s, t, n, 0);
    jumpRng(this.rng, n * s.drawsPerRequest);
    this.fastCounts.heldRuns += n;
    clock.queue.nextSeq += n - 1;
    clock.nowNs = s.arrivalAt(t, n - 1);
    s.nextArrivalNs = s.skipArrivals(t, n);
    if (s.active) s.event = clock.schedule(s.nextArrivalNs, this, EV_ARRIVAL, s);
    return true;
  }

  /**
   * Counts the first `n` arrivals of fixed-rate stream `s` from `t` (each shifted by
   * `shiftNs`: a completion span) in the timeline, per bin arithmetically: the batched
   * paths keep dma.timeline equal to what one record per request would give.
   */
  private timelineRun(kind: number, s: DmaStream, t: number, n: number, shiftNs: number): void {
    if (n <= 0) return;
    const first = s.arrivalAt(t, 0) + shiftNs;
    const last = s.arrivalAt(t, n - 1) + shiftNs;
    const lastBin = Math.floor(last / TIMELINE_BIN_NS);
    let firstBin = Math.floor(first / TIMELINE_BIN_NS);
    let counted = 0;
    // The timeline keeps the last TIMELINE_RETAINED_BINS bins only: a run longer than
    // that (a closed form over seconds) records just the bins it keeps, not one per
    // bin of the whole run, and marks the rest as dropped.
    const keepFrom = lastBin - TIMELINE_RETAINED_BINS + 1;
    if (firstBin < keepFrom) {
      const limit = keepFrom * TIMELINE_BIN_NS - 1 - shiftNs;
      counted = limit < t ? 0 : Math.min(n, s.arrivalsThrough(t, limit));
      this.timeline.dropBefore(keepFrom * TIMELINE_BIN_NS);
      firstBin = keepFrom;
    }
    for (let bin = firstBin; bin <= lastBin && counted < n; bin++) {
      const limit = (bin + 1) * TIMELINE_BIN_NS - 1 - shiftNs;
      const through = bin === lastBin ? n : limit < t ? 0 : Math.min(n, s.arrivalsThrough(t, limit));
      if (through > counted) this.timeline.record(kind, s.deviceSlot, bin * TIMELINE_BIN_NS, through - counted);
      counted = Math.max(counted, through);
    }
  }

  /** A cheap estimate: short intervals (streams interleaving, an event close by) are not worth a closed form. */
  private closedFormWorthIt(s: DmaStream, t: number, limit: number): boolean {
    return limit >= t && (limit - t) * s.params.ratePerSec >= CLOSED_FORM_MIN_ARRIVALS * 1e9;
  }

  /** The memo for the stream's pages (reused between batches; see newMemoEpoch). */
  private memoFor(s: DmaStream): Uint32Array {
    if (this.memo.length < s.pageCount) {
      this.memo = new Uint32Array(Math.max(s.pageCount, 2 * this.memo.length));
      this.memoEpoch = 0;
    }
    return this.memo;
  }

  /** A fresh epoch: every memo entry written before it is void (O(1), not a fill). */
  private newMemoEpoch(): number {
    if (++this.memoEpoch >= 2 ** 30) {
      this.memo.fill(0);
      this.memoEpoch = 1;
    }
    return this.memoEpoch;
  }

  /**
   * The closed form: when every page the stream can touch is an ok IOTLB hit for the
   * directions it uses (nothing inside the interval can change that: no other event
   * runs, and a hit changes nothing), no stall covers the device, and the interval up
   * to the next event holds enough arrivals, accounts them all at once: counters, one
   * histogram record with a count, the PRNG jumped past their draws, and only the
   * completions still pending at the end pushed one by one. Returns how many arrivals
   * (from `t`) it accounted, or 0 (then it waits a while before trying again).
   */
  private closedFormRun(s: DmaStream, t: number, horizon: number, rngAt: RngState | null, used: number): number {
    const port = this.port;
    if (port.peekHit === undefined || s.pageCount > CLOSED_FORM_MAX_PAGES) return 0;
    const deviceId = s.params.deviceId;
    if (this.gate.active.length > 0 && this.gate.governing(deviceId, t, port) !== null) return 0;
    const limit = Math.min(horizon, nextLiveAtNs(this.clock.queue) - 1);
    if (!this.closedFormWorthIt(s, t, limit)) return 0;
    const n = Math.min(s.arrivalsThrough(t, limit), 2 ** 40);
    if (n < CLOSED_FORM_MIN_ARRIVALS || n < 2 * s.pageCount) {
      s.closedFormWait = n;
      return 0;
    }
    let hitNs = -1;
    for (let pfn = s.firstPfn, end = s.firstPfn + s.pageCount; pfn < end; pfn++) {
      for (let dir = 1; dir <= 2; dir++) {
        if ((s.directions & dir) === 0) continue;
        const ns = port.peekHit(deviceId, pfn, dir === 2);
        if (ns < 0 || (hitNs >= 0 && ns !== hitNs)) {
          // Not everything is cached yet: run one by one for a while (doubling).
          s.closedFormWait = Math.max(2 * s.pageCount, CLOSED_FORM_MIN_ARRIVALS);
          return 0;
        }
        hitNs = ns;
      }
    }
    const spanNs = hitNs + this.serviceNs;
    const dev = this.slots[s.deviceSlot] as DmaCounters;
    countAll.arrive(this.total, dev, s.counters, n);
    // Arrivals k < done have completed by the last arrival's time; the rest are pending.
    const lastNs = s.arrivalAt(t, n - 1);
    const done = lastNs - spanNs < t ? 0 : Math.min(n, s.arrivalsThrough(t, lastNs - spanNs));
    if (done > 0) countAll.complete(this.total, dev, s.counters, spanNs, done);
    this.port.countHits?.(n);
    this.timelineRun(TL.ISSUED, s, t, n, 0);
    this.timelineRun(TL.COMPLETED, s, t, done, spanNs);
    for (let k = done; k < n; k++) this.completions.push(s.arrivalAt(t, k), spanNs, spanNs, s.deviceSlot, s.streamSlot);
    // The batch drew a block ahead: go back to where its requests stopped drawing first.
    if (rngAt !== null) {
      this.rng.setState(rngAt);
      jumpRng(this.rng, used);
    }
    jumpRng(this.rng, n * s.drawsPerRequest);
    return n;
  }

  /**
   * A request arriving now. Returns true when its outcome is decided now (in the
   * r* fields), false when a stall holds it (`lastHeld`).
   */
  private dispatch(deviceId: number, deviceSlot: number, stream: DmaStream | null, iovaPfn: number, pageOff: number, write: boolean): boolean {
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
  private translate(deviceId: number, deviceSlot: number, dev: DmaCounters, stream: DmaStream | null, iovaPfn: number, pageOff: number, write: boolean, arrivalNs: number): void {
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
      deviceId, deviceSlot, stream, iovaPfn, pageOff, write, arrivalNs, order,
      resolve: null, timeoutEvent: null, timeoutNs: stall.completionTimeoutNs, device: dev,
    };
    this.timeline.record(TL.HELD, deviceSlot, arrivalNs);
    countAll.hold(this.total, dev, stream === null ? null : stream.counters);
    this.wait(stall, rec);
    this.lastHeld = rec;
  }

  /** Queues a held request on `stall`, or arms its timeout if the wait would pass it. */
  private wait(stall: Stall, rec: HeldRequest): void {
    stall.heldCount++;
    rec.timeoutNs = stall.completionTimeoutNs;
    if (stall.endNs - rec.arrivalNs > stall.completionTimeoutNs) {
      this.timeouts.add(rec);
      rec.timeoutEvent = this.clock.schedule(rec.arrivalNs + stall.completionTimeoutNs, this, EV_TIMEOUT, rec);
    } else {
      stall.held.push(rec);
    }
  }

  /**
   * End of a stall: held requests, in arrival order, are translated now against the
   * new tables. One still covered by another running stall (overlapping stalls) moves
   * to it instead, keeping its arrival time for its timeout.
   */
  private release(stall: Stall, ev: ClockEvent): void {
    if (stall.runs.length > 0 || stall.merge !== null) {
      this.releaseMerged(stall, ev);
      return;
    }
    stall.releaseEvent = null;
    const held = stall.held;
    if (stall.releasedUpTo === 0) held.sort((x, y) => x.arrivalNs - y.arrivalNs || x.order - y.order);
    const now = this.clock.nowNs;
    const budget = this.clock.workLeft();
    let i = stall.releasedUpTo;
    for (let work = 0; i < held.length; work++) {
      if (work >= budget || outOfTime(this.clock, work)) {
        // Out of this chunk's budget: continue in the next one. The same seq keeps the
        // rest ahead of every other event (the stall no longer governs: now >= endNs).
        stall.releasedUpTo = i;
        this.clock.spend(work - 1);
        stall.releaseEvent = this.clock.schedule(stall.endNs, this, EV_RELEASE, stall, ev.seq);
        return;
      }
      this.releaseOne(held[i++] as HeldRequest, now);
    }
    if (i > stall.releasedUpTo + 1) this.clock.spend(i - stall.releasedUpTo - 1);
    stall.held = [];
    stall.releasedUpTo = 0;
    this.gate.remove(stall);
  }

  /**
   * One held request at the end of its stall: on to another stall still covering it
   * (a copy when `rec` is a reused record: `scratch`), or translated now.
   */
  private releaseOne(rec: HeldRequest, now: number, scratch = false): void {
    const other = this.gate.governing(rec.deviceId, now, this.port);
    if (other !== null && other.policy === 'hold') {
      this.wait(other, scratch ? { ...rec } : rec);
      return;
    }
    this.unwait(rec);
    if (other !== null) {
      this.decide(rec.deviceSlot, rec.device, rec.stream, FINAL.ABORTED);
      this.setResult('aborted', now - rec.arrivalNs, null, `aborted by a stall of ${stallName(other)} (policy abort)`);
      this.emit(rec.deviceId, rec.stream, rec.iovaPfn, rec.pageOff, rec.write);
    } else {
      this.translate(rec.deviceId, rec.deviceSlot, rec.device, rec.stream, rec.iovaPfn, rec.pageOff, rec.write, rec.arrivalNs);
    }
    if (rec.resolve !== null) rec.resolve(this.result());
  }

  /** release() for a stall holding runs: the same, members replayed in (arrivalNs, order) order. */
  private releaseMerged(stall: Stall, ev: ClockEvent): void {
    stall.releaseEvent = null;
    if (stall.merge === null) {
      stall.merge = new HeldMerge(stall.held, stall.runs);
      stall.held = [];
      stall.runs = [];
    }
    const merge = stall.merge;
    const now = this.clock.nowNs;
    const budget = this.clock.workLeft();
    let work = 0;
    for (; !merge.empty; work++) {
      if (work >= budget || outOfTime(this.clock, work)) {
        this.clock.spend(work - 1);
        stall.releaseEvent = this.clock.schedule(stall.endNs, this, EV_RELEASE, stall, ev.seq);
        return;
      }
      const rec = merge.next() as HeldRequest;
      this.releaseOne(rec, now, merge.isScratch(rec));
    }
    if (work > 1) this.clock.spend(work - 1);
    stall.merge = null;
    this.gate.remove(stall);
  }

  private timeOut(rec: HeldRequest): void {
    rec.timeoutEvent = null;
    this.timeouts.delete(rec);
    this.unwait(rec);
    this.decide(rec.deviceSlot, rec.device, rec.stream, FINAL.TIMEOUT);
    this.setResult('timeout', this.clock.nowNs - rec.arrivalNs, null, `held by a stall for more than completionTimeoutNs (${rec.timeoutNs} ns)`);
    this.emit(rec.deviceId, rec.stream, rec.iovaPfn, rec.pageOff, rec.write);
    if (rec.resolve !== null) rec.resolve(this.result());
  }

  private unwait(rec: HeldRequest): void {
    countAll.unwait(this.total, rec.device, rec.stream === null ? null : rec.stream.counters);
  }

  private decide(deviceSlot: number, dev: DmaCounters, stream: DmaStream | null, outcome: FinalOutcome): void {
    this.timeline.record(TIMELINE_OF[outcome], deviceSlot, this.clock.nowNs);
    countAll.finish(this.total, dev, stream === null ? null : stream.counters, outcome);
  }

  private setResult(outcome: DmaOutcome, latencyNs: number, spa: number | null, reason: string): void {
    this.rOutcome = outcome;
    this.rLatencyNs = latencyNs;
    this.rSpa = spa === null ? NO_SPA : spa;
    this.rReason = reason;
  }

  private result(): DmaIssueResult {
    return { outcome: this.rOutcome, latencyNs: this.rLatencyNs, spa: this.rSpa === NO_SPA ? null : this.rSpa, reason: this.rReason };
  }

  /** Reports the outcome in the r* fields (never ok) to `onOutcome`. */
  private emit(deviceId: number, stream: DmaStream | null, iovaPfn: number, pageOff: number, write: boolean): void {
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
  private deviceSlot(deviceId: number): number {
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
  private windowsCovering(deviceId: number): StallWindow[] {
    const domain = this.port.domainOf(deviceId);
    return this.total.stalls.filter((w) => w.scope === 'iommu' || w.domainId === domain);
  }

  private streamById(streamId: string): DmaStream {
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
/** Time of the earliest live clock event (Infinity when none). */
function nextLiveAtNs(q: { peek(): ClockEvent | undefined; nextAtNs(): number | undefined }): number {
  const head = q.peek();
  if (head === undefined) return Infinity;
  if (!head.cancelled) return head.atNs;
  return q.nextAtNs() ?? Infinity;
}

function stallName(s: Stall): string {
  return s.scope === 'iommu' ? 'the whole IOMMU' : `domain ${s.domainId}`;
}
