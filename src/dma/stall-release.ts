/**
 * The end of a stall (protocol/README.md §4.3.5, Effect): its held requests, in
 * arrival order, go on against the tables the TMPM swapped, within each clock
 * chunk's work budget; a held request whose wait passes completionTimeoutNs fails
 * as a timeout instead. A fixed-rate stream's held arrivals, kept as runs
 * (held-runs.ts), are released in closed form where each would be an ok IOTLB hit
 * (`releaseRun`), so the release costs the same at any rate.
 */
import type { ClockEvent } from '../clock/event-queue.js';
import type { VirtualClock } from '../clock/virtual-clock.js';
import { countAll } from './count-all.js';
import { FINAL } from './dma-stats.js';
import type { Stall } from './stall-gate.js';
import type { HeldRequest } from './held-request.js';
import { HeldMerge, type RunCursor } from './held-runs.js';
import { EV_RELEASE, stallName } from './dma-dispatch.js';
import { CLOSED_FORM_MIN_ARRIVALS, DmaBatchPaths } from './dma-batch.js';

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

  /**
   * release() for a stall holding runs: the same, members replayed in (arrivalNs,
   * order) order, or released in closed form (releaseRun) a stretch of one run at a
   * time, each of its latency buckets counted as one unit of the chunk's work.
   */
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
    let timeCheck = RELEASES_PER_TIME_CHECK;
    // The run checked for the closed form and its span, while nothing else was released since.
    let checked: RunCursor | null = null;
    let spanNs = -1;
    while (!merge.empty) {
      if (work >= budget || (work >= timeCheck && this.clock.outOfTime())) {
        this.clock.spend(work - 1);
        stall.releaseEvent = this.clock.schedule(stall.endNs, this, EV_RELEASE, stall, ev.seq);
        return;
      }
      if (work >= timeCheck) timeCheck = (Math.floor(work / RELEASES_PER_TIME_CHECK) + 1) * RELEASES_PER_TIME_CHECK;
      const c = this.closedForm ? merge.topRun() : null;
      if (c !== null) {
        let n = 0;
        if (c === checked) n = merge.leadOf(1);
        else if (c.closedFormWait > 0) c.closedFormWait--;
        else if ((n = merge.leadOf(Math.max(CLOSED_FORM_MIN_ARRIVALS, 2 * c.run.stream.pageCount))) > 0) {
          spanNs = this.runSpanNs(c, n, now);
          if (spanNs < 0) n = 0;
          else checked = c;
        }
        if (n > 0) {
          const groups = Math.max(1, Math.min(budget - work, RELEASES_PER_TIME_CHECK));
          merge.skipLeading(this.releaseRun(c, n, now, spanNs, groups));
          work += this.runGroups;
          continue;
        }
      }
      checked = null;
      const rec = merge.next() as HeldRequest;
      this.releaseOne(rec, now, merge.isScratch(rec));
      work++;
    }
    if (work > 1) this.clock.spend(work - 1);
    stall.merge = null;
    this.gate.remove(stall);
  }

  /**
   * Whether the next `n` held requests, members k.. of one run (cursor `c`) before
   * any other held request, may be released in closed form: no other stall covers
   * the device now, and every page the stream can touch is an ok IOTLB hit of one
   * translation time (uniformHitNs), so each would be translated as that hit and
   * complete one span after now. Returns the span, or -1 (then the run's next members
   * go one by one for a while).
   */
  private runSpanNs(c: RunCursor, n: number, now: number): number {
    const s = c.run.stream;
    if (this.gate.governing(s.params.deviceId, now, this.port) !== null) {
      c.closedFormWait = n;
      return -1;
    }
    const hitNs = this.uniformHitNs(s);
    const spanNs = hitNs + this.serviceNs;
    if (hitNs < 0 || spanNs <= 0) {
      // Not everything is cached yet: release one by one for a while (walks fill the IOTLB).
      c.closedFormWait = Math.max(2 * s.pageCount, CLOSED_FORM_MIN_ARRIVALS);
      return -1;
    }
    return spanNs;
  }

  /** Latency buckets the last releaseRun went through (its units of work). */
  private runGroups = 0;

  /**
   * The closed form of a release (runSpanNs said it applies): members k.. of run `c`,
   * at most `n`, translated now as ok IOTLB hits of span `spanNs`. A member's latency
   * is now - arrival + span, descending along the run, so each histogram bucket holds
   * a stretch of members, found by the arrival arithmetic, that goes to the
   * completion queue as one group (the entries one push per member would make).
   * Goes through at most `maxGroups` buckets; returns the members released, counted
   * as no longer waiting and as IOTLB hits.
   */
  private releaseRun(c: RunCursor, n: number, now: number, spanNs: number, maxGroups: number): number {
    const run = c.run;
    const s = run.stream;
    const latency = this.total.latency;
    let j = 0;
    let groups = 0;
    while (j < n && groups < maxGroups) {
      const latencyNs = now - c.arrivalOf(j) + spanNs;
      // Members at least as late as the bucket's bottom: arrival <= now + span - bottom.
      const through = Math.min(n, c.membersThrough(now + spanNs - latency.bucketBottomNs(latencyNs)));
      this.completions.pushGroup(now, spanNs, latencyNs, through - j, run.deviceSlot, s.streamSlot);
      j = through;
      groups++;
    }
    countAll.unwait(this.total, run.device, s.counters, j);
    this.port.countHits?.(j);
    this.fastCounts.releasedInClosedForm += j;
    this.runGroups = groups;
    return j;
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
