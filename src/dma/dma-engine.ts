/**
 * The DMA engine (protocol/README.md §8, §4.5, and PSMASH_IO's effect, §4.3.5):
 * one-shot requests (`dma.issue`), streams (`dma.startStream`), the stall gate the
 * TMPM closes around a smash, statistics (`dma.stats`) and the state document.
 *
 * This file is the engine's public face. Its work lives in three rooms, each
 * building on the one before: the event loop and one request's dispatch
 * (dma-dispatch.ts), the batched and closed-form paths (dma-batch.ts), and the stall
 * release (stall-release.ts).
 */
import { invalidArgument } from '../util/emu-error.js';
import { LatencyHistogram } from './latency-histogram.js';
import { DmaCounters, emptyStatsView, type DmaStatsView, type StallWindow } from './dma-stats.js';
import { DmaStream, checkDeviceId, checkStreamParams, type StreamParams } from './dma-stream.js';
import { Stall, checkStallParams, type StallHandle, type StallParams } from './stall-gate.js';
import type { HeldRequest } from './held-request.js';
import { readDmaState, writeDmaState, type DmaEngineState } from './dma-state.js';
import { EV_ARRIVAL, EV_RELEASE, EV_TIMEOUT, type DmaIssueParams, type DmaIssueResult, type DmaStatsFilter } from './dma-dispatch.js';
import { DmaStallRelease } from './stall-release.js';

export { DEFAULT_SERVICE_NS } from './dma-dispatch.js';
export type { DmaEngineOptions, DmaIssueParams, DmaIssueResult, DmaOutcome, DmaOutcomeEvent, DmaStatsFilter } from './dma-dispatch.js';

const PAGE_BYTES = 4096;

export class DmaEngine extends DmaStallRelease {
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
}
