/**
 * Held requests of a fixed-rate stream, kept as runs (ARCHITECTURE.md "The DMA fast paths"): while a stall holds
 * a stream at 1e9 requests/s, one object per request is 2 M objects per 2 ms. A run
 * is one record for all the arrivals of a batch (between two clock events): the
 * first arrival's time, the stream's carry and cursor and the PRNG state before its
 * draws, and a count. Its members are replayed when they are needed (the release,
 * a state document), giving the same addresses, times and order numbers the
 * one-object-per-request engine would have kept, or skipped by arithmetic where the
 * release accounts a stretch of them in closed form (RunCursor.skip).
 *
 * HeldMerge yields a stall's held requests in release order ((arrivalNs, order), as
 * release sorts them): the individual records (sorted) and the runs, merged through a
 * small binary heap of sources; `leadOf` says how many of a run's members come before
 * any other source's next request.
 */
import { SeededRng, type RngState } from '../util/rng.js';
import { jumpRng } from '../util/rng-jump.js';
import type { DmaCounters } from './dma-stats.js';
import { DmaStream } from './dma-stream.js';
import type { HeldRequest } from './held-request.js';

export interface HeldRun {
  stream: DmaStream;
  deviceSlot: number;
  device: DmaCounters;
  count: number;
  firstArrivalNs: number;
  /** The stream's carry after the gap to the first arrival, and its cursor before it. */
  acc: number;
  cursor: number;
  /** The PRNG state before the first member's draws. */
  rng: RngState;
  /** Order number of the first member; members take order .. order + count - 1. */
  order: number;
  timeoutNs: number;
  /** How many individual held records came before it (insertion order, for state documents). */
  atIndex: number;
}

/** Replays a run's members one at a time. */
export class RunCursor {
  k = 0;
  t: number;
  private readonly replay: DmaStream;
  private readonly rng: SeededRng;
  private readonly draws = new Uint32Array(MAX_DRAWS_PER_REQUEST);

  constructor(
    readonly run: HeldRun,
    from?: RunCursor,
  ) {
    const s = run.stream;
    this.replay = new DmaStream(s.id, s.params, s.counters, s.deviceCounters, s.streamSlot, s.deviceSlot);
    this.rng = new SeededRng(0);
    if (from === undefined) {
      this.t = run.firstArrivalNs;
      this.replay.acc = run.acc;
      this.replay.cursor = run.cursor;
      this.rng.setState(run.rng);
    } else {
      this.k = from.k;
      this.t = from.t;
      this.replay.acc = from.replay.acc;
      this.replay.cursor = from.replay.cursor;
      this.rng.setState(from.rng.getState());
    }
  }

  /** Members to release one by one before the release tries the closed form again (backoff). */
  closedFormWait = 0;

  get done(): boolean {
    return this.k >= this.run.count;
  }

  /** Members left. */
  get left(): number {
    return this.run.count - this.k;
  }

  /** How many members from k on arrive at or before `limitNs` (at most `left`). */
  membersThrough(limitNs: number): number {
    return limitNs < this.t ? 0 : Math.min(this.left, this.replay.arrivalsThrough(this.t, limitNs));
  }

  /** Arrival time of member k + j. */
  arrivalOf(j: number): number {
    return this.replay.arrivalAt(this.t, j);
  }

  /**
   * Moves past `n` members (n <= left) as `n` takes would: the stream's carry and
   * cursor by arithmetic, the PRNG jumped past their draws.
   */
  skip(n: number): void {
    const s = this.replay;
    jumpRng(this.rng, n * s.drawsPerRequest);
    this.k += n;
    // take() adds no gap after the last member; nothing reads t once the run is done.
    if (this.k < this.run.count) this.t = s.skipArrivals(this.t, n);
  }

  get order(): number {
    return this.run.order + this.k;
  }

  /** Member k as a new held record, then moves to member k + 1. */
  take(): HeldRequest {
    return this.takeInto(newHeldRecord(this.run));
  }

  /** Member k written into `rec` (a release reuses one: 2 M members, no garbage), then moves to member k + 1. */
  takeInto(rec: HeldRequest): HeldRequest {
    const r = this.run;
    const s = this.replay;
    // The draws nextAccess would take, through a buffer: rng.next's double, returned
    // from a call, is a heap number per draw (64 MiB over a 2 M-member release).
    this.rng.fill(this.draws, s.drawsPerRequest);
    s.accessFromDraws(this.draws, 0);
    rec.deviceId = r.stream.params.deviceId;
    rec.deviceSlot = r.deviceSlot;
    rec.stream = r.stream;
    rec.iovaPfn = s.iovaPfn;
    rec.pageOff = s.pageOff;
    rec.write = s.write;
    rec.arrivalNs = this.t;
    rec.order = r.order + this.k;
    rec.resolve = null;
    rec.timeoutEvent = null;
    rec.timeoutNs = r.timeoutNs;
    rec.device = r.device;
    this.k++;
    if (this.k < r.count) this.t += s.nextGapNs(this.rng);
    return rec;
  }
}

function newHeldRecord(r: HeldRun): HeldRequest {
  return { deviceId: 0, deviceSlot: 0, stream: null, iovaPfn: 0, pageOff: 0, write: false, arrivalNs: 0, order: 0, resolve: null, timeoutEvent: null, timeoutNs: 0, device: r.device };
}

/** A request draws at most 4 32-bit values (slot and direction: DmaStream.drawsPerRequest). */
const MAX_DRAWS_PER_REQUEST = 4;

type Source = { kind: 'list'; i: number } | { kind: 'run'; c: RunCursor };

/** A stall's held requests in (arrivalNs, order) order; `clone` for reading ahead (state documents). */
export class HeldMerge {
  private heap: Source[] = [];
  private scratch: HeldRequest | undefined;

  constructor(
    private readonly list: HeldRequest[],
    runs: HeldRun[] | null,
    from?: HeldMerge,
  ) {
    if (from !== undefined) {
      this.heap = from.heap.map((s) => (s.kind === 'list' ? { kind: 'list', i: s.i } : { kind: 'run', c: new RunCursor(s.c.run, s.c) }));
      return;
    }
    list.sort((x, y) => x.arrivalNs - y.arrivalNs || x.order - y.order);
    if (list.length > 0) this.push({ kind: 'list', i: 0 });
    for (const r of runs ?? []) if (r.count > 0) this.push({ kind: 'run', c: new RunCursor(r) });
  }

  clone(): HeldMerge {
    return new HeldMerge(this.list, null, this);
  }

  get empty(): boolean {
    return this.heap.length === 0;
  }

  /** The cursor of the run whose member comes next, or null when the next is an individual record. */
  topRun(): RunCursor | null {
    const top = this.heap[0];
    return top === undefined || top.kind !== 'run' ? null : top.c;
  }

  /**
   * How many members of topRun() come next, before any other source's next request,
   * when at least `minCount` do; else 0. Nothing moves.
   */
  leadOf(minCount: number): number {
    const c = (this.heap[0] as Extract<Source, { kind: 'run' }>).c;
    let other: Source | undefined = this.heap[1];
    const right = this.heap[2];
    if (right !== undefined && (other === undefined || this.before(right, other))) other = right;
    if (other === undefined) return c.left >= minCount ? c.left : 0;
    const tb = this.timeOf(other);
    // A cheap look first: arrivals in [c.t, tb] number at most (tb - c.t) x rate / 1e9 + 1.
    if ((tb - c.t) * c.run.stream.params.ratePerSec < (minCount - 1) * 1e9) return 0;
    let n = c.membersThrough(tb - 1);
    // Members are at least 1 ns apart: at most one arrives at tb, first when its order is.
    if (n < c.left && c.arrivalOf(n) === tb && c.order + n < this.orderOf(other)) n++;
    return n >= minCount ? n : 0;
  }

  /** Moves topRun() past `n` of its members (n <= leadOf), as `n` calls of next would. */
  skipLeading(n: number): void {
    const top = this.heap[0] as Extract<Source, { kind: 'run' }>;
    top.c.skip(n);
    if (!top.c.done) this.siftDown(top);
    else {
      const last = this.heap.pop() as Source;
      if (this.heap.length > 0) this.siftDown(last);
    }
  }

  /** Whether `rec` (from next) is the reused record of a run's member. */
  isScratch(rec: HeldRequest): boolean {
    return rec === this.scratch;
  }

  /**
   * The next held request. A run's member comes in one record the merge reuses
   * (`isScratch` says so): valid until the next call, so a caller that keeps it
   * (moves it to another stall) copies it first.
   */
  next(): HeldRequest | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    let rec: HeldRequest;
    let more: boolean;
    if (top.kind === 'list') {
      rec = this.list[top.i++] as HeldRequest;
      more = top.i < this.list.length;
    } else {
      this.scratch ??= newHeldRecord(top.c.run);
      rec = top.c.takeInto(this.scratch);
      more = !top.c.done;
    }
    if (more) this.siftDown(top);
    else {
      const last = this.heap.pop() as Source;
      if (this.heap.length > 0) this.siftDown(last);
    }
    return rec;
  }

  private timeOf(s: Source): number {
    return s.kind === 'list' ? (this.list[s.i] as HeldRequest).arrivalNs : s.c.t;
  }

  private orderOf(s: Source): number {
    return s.kind === 'list' ? (this.list[s.i] as HeldRequest).order : s.c.order;
  }

  private before(a: Source, b: Source): boolean {
    const ta = this.timeOf(a);
    const tb = this.timeOf(b);
    return ta < tb || (ta === tb && this.orderOf(a) < this.orderOf(b));
  }

  private push(s: Source): void {
    const h = this.heap;
    h.push(s);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(s, h[p] as Source)) break;
      h[i] = h[p] as Source;
      i = p;
    }
    h[i] = s;
  }

  /** Puts `s` at the root (the slot just vacated or re-keyed) and restores the heap. */
  private siftDown(s: Source): void {
    const h = this.heap;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.before(h[r] as Source, h[l] as Source)) c = r;
      if (!this.before(h[c] as Source, s)) break;
      h[i] = h[c] as Source;
      i = c;
    }
    h[i] = s;
  }
}

/** A stall's held requests in insertion order (what its `held` list would hold), runs expanded. */
export function* heldInInsertionOrder(list: readonly HeldRequest[], runs: readonly HeldRun[]): Generator<HeldRequest> {
  let r = 0;
  for (let i = 0; i <= list.length; i++) {
    while (r < runs.length && (runs[r] as HeldRun).atIndex === i) {
      const c = new RunCursor(runs[r] as HeldRun);
      while (!c.done) yield c.take();
      r++;
    }
    if (i < list.length) yield list[i] as HeldRequest;
  }
}
