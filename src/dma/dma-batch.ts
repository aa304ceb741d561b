/**
 * The DMA engine's batched and closed-form paths (ARCHITECTURE.md "The DMA fast
 * paths"): a fixed-rate stream's arrivals from one clock event up to the next, with
 * known IOTLB hits counted in bulk, intervals where nothing can change accounted in
 * closed form, and arrivals a hold stall covers kept as one HeldRun. Each gives the
 * state the one-event-per-arrival path (dma-dispatch.ts) would have given.
 */
import type { ClockEvent } from '../clock/event-queue.js';
import type { RngState } from '../util/rng.js';
import { jumpRng } from '../util/rng-jump.js';
import { countAll } from './count-all.js';
import type { DmaCounters } from './dma-stats.js';
import type { DmaStream } from './dma-stream.js';
import { TIMELINE_BIN_NS, TIMELINE_RETAINED_BINS, TL } from './dma-timeline.js';
import { DmaDispatch, EV_ARRIVAL } from './dma-dispatch.js';

/** The closed form verifies every page a stream can touch: only for ranges up to this many pages. */
const CLOSED_FORM_MAX_PAGES = 1 << 16;
/** A batch remembers known IOTLB hits per page for streams over at most this many pages. */
const MEMO_MAX_PAGES = 1 << 20;
/** ...and only for intervals of at least this many arrivals (and twice the pages). */
export const CLOSED_FORM_MIN_ARRIVALS = 256;
/** A batch stops asking DmaPort.peekHit after this many answers in a row found no hit. */
const PEEK_GIVE_UP = 64;

export abstract class DmaBatchPaths extends DmaDispatch {
  /** Scratch of arriveBatch: pre-drawn PRNG values, page memo. */
  private readonly draws = new Uint32Array(4096);
  private memo = new Uint32Array(0);
  private hitTimes = new Float64Array(1024);
  private memoEpoch = 0;

  /**
   * A fixed-rate stream's arrivals from now up to the next other clock event (or the
   * end of the running advance, or the chunk's work budget), without a heap event
   * each. Identical to one event per arrival: each arrival runs at its own time with
   * the same draws and the same dispatch; the clock's event counter (`nextSeq`) moves
   * as if each next arrival had been scheduled; nothing else can run in between,
   * since every other event is later than the batch. Arrivals that fault or meet a
   * stall simply take the exact per-request path inside the batch.
   */
  protected arriveBatch(s: DmaStream): void {
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
      stream: s,
      deviceSlot: s.deviceSlot,
      device: dev,
      count: n,
      firstArrivalNs: t,
      acc: s.acc,
      cursor: s.cursor,
      rng: this.rng.getState(),
      order: this.heldOrder,
      timeoutNs: stall.completionTimeoutNs,
      atIndex: stall.held.length,
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
    const hitNs = this.uniformHitNs(s);
    if (hitNs < 0) {
      // Not everything is cached yet: run one by one for a while (doubling).
      s.closedFormWait = Math.max(2 * s.pageCount, CLOSED_FORM_MIN_ARRIVALS);
      return 0;
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
   * The translation time when every page stream `s` can touch is an ok IOTLB hit,
   * the same for each, in every direction it uses (DmaPort.peekHit), else -1.
   */
  protected uniformHitNs(s: DmaStream): number {
    const port = this.port;
    if (port.peekHit === undefined || s.pageCount > CLOSED_FORM_MAX_PAGES) return -1;
    const deviceId = s.params.deviceId;
    let hitNs = -1;
    for (let pfn = s.firstPfn, end = s.firstPfn + s.pageCount; pfn < end; pfn++) {
      for (let dir = 1; dir <= 2; dir++) {
        if ((s.directions & dir) === 0) continue;
        const ns = port.peekHit(deviceId, pfn, dir === 2);
        if (ns < 0 || (hitNs >= 0 && ns !== hitNs)) return -1;
        hitNs = ns;
      }
    }
    return hitNs;
  }
}

/** Time of the earliest live clock event (Infinity when none). */
function nextLiveAtNs(q: { peek(): ClockEvent | undefined; nextAtNs(): number | undefined }): number {
  const head = q.peek();
  if (head === undefined) return Infinity;
  if (!head.cancelled) return head.atNs;
  return q.nextAtNs() ?? Infinity;
}
