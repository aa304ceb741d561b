/**
 * The end of a stall (protocol/README.md §4.3.5, Effect): its held requests, in
 * arrival order, go on against the tables the TMPM swapped, within each clock
 * chunk's work budget; a held request whose wait passes completionTimeoutNs fails
 * as a timeout instead.
 */
import type { ClockEvent } from '../clock/event-queue.js';
import type { VirtualClock } from '../clock/virtual-clock.js';
import { FINAL } from './dma-stats.js';
import type { Stall } from './stall-gate.js';
import type { HeldRequest } from './held-request.js';
import { HeldMerge } from './held-runs.js';
import { EV_RELEASE, stallName } from './dma-dispatch.js';
import { DmaBatchPaths } from './dma-batch.js';

/** Released requests between two looks at the chunk's wall time (VirtualClock.outOfTime). */
const RELEASES_PER_TIME_CHECK = 256;

/** A release stops as if out of budget once its chunk has used its wall time (checked every few hundred requests). */
function outOfTime(clock: VirtualClock, work: number): boolean {
  return work > 0 && work % RELEASES_PER_TIME_CHECK === 0 && clock.outOfTime();
}

export abstract class DmaStallRelease extends DmaBatchPaths {
  /**
   * End of a stall: held requests, in arrival order, are translated now against the
   * new tables. One still covered by another running stall (overlapping stalls) moves
   * to it instead, keeping its arrival time for its timeout.
   */
  protected release(stall: Stall, ev: ClockEvent): void {
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

  protected timeOut(rec: HeldRequest): void {
    rec.timeoutEvent = null;
    this.timeouts.delete(rec);
    this.unwait(rec);
    this.decide(rec.deviceSlot, rec.device, rec.stream, FINAL.TIMEOUT);
    this.setResult('timeout', this.clock.nowNs - rec.arrivalNs, null, `held by a stall for more than completionTimeoutNs (${rec.timeoutNs} ns)`);
    this.emit(rec.deviceId, rec.stream, rec.iovaPfn, rec.pageOff, rec.write);
    if (rec.resolve !== null) rec.resolve(this.result());
  }
}
