/**
 * DMA counts per time bin and per device, for `dma.timeline` and the counter
 * tracks of a trace: how many requests arrived (issued), began waiting on a stall
 * (held), completed, faulted, timed out or were aborted in each bin of virtual time.
 *
 * Bounded memory: bins of TIMELINE_BIN_NS (10 us) in chunks of 1024 bins (10.24 ms,
 * 28 KiB) per device; at most TIMELINE_MAX_CHUNKS chunks are kept, the oldest
 * dropped first, so the most recent ~1.3 s of virtual time (less with several busy
 * devices) is always there. Recording is one typed-array increment; the chunk of
 * the last bin is cached, so a stream's requests find it without a Map lookup.
 */

/** The finest bin, ns; `dma.timeline` bins are multiples of it. */
export const TIMELINE_BIN_NS = 10_000;
export const TIMELINE_CHUNK_BINS = 1024;
/** 128 chunks x 28 KiB = 3.5 MiB at most per platform. */
export const TIMELINE_MAX_CHUNKS = 128;
/** Bins the timeline can hold at most, per device (TIMELINE_MAX_CHUNKS chunks). */
export const TIMELINE_RETAINED_BINS = TIMELINE_MAX_CHUNKS * TIMELINE_CHUNK_BINS;

/** Bins one dma.timeline call returns at most. */
export const TIMELINE_MAX_BINS = 10_000;

/** What a bin counts, in this order in each chunk. */
export const TIMELINE_KINDS = ['issued', 'held', 'completed', 'ioPageFaults', 'rmpFaults', 'timeouts', 'aborted'] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];
export const TL = { ISSUED: 0, HELD: 1, COMPLETED: 2, IO_PAGE_FAULT: 3, RMP_FAULT: 4, TIMEOUT: 5, ABORTED: 6 } as const;
const KINDS = TIMELINE_KINDS.length;

interface Chunk {
  key: number;
  lane: Lane;
  /** bins x kinds, kind-major within a bin. */
  counts: Uint32Array;
}

/** One device's chunks, with the chunk of its last bin cached (no lookup on the hot path). */
interface Lane {
  deviceId: number;
  chunks: Map<number, Chunk>;
  current: Chunk | null;
  /** First bin of `current`. */
  currentFirstBin: number;
}

export interface TimelineWindow {
  binNs: number;
  startNs: number;
  /** Bins in the window. */
  count: number;
  /** Earliest virtual time still held (older bins were dropped); null when empty. */
  retainedFromNs: number | null;
  series: Record<TimelineKind, number[]>;
}

export class DmaTimeline {
  /** By the DMA engine's device slot (small integers): the hot path indexes an array. */
  private lanes: (Lane | undefined)[] = [];
  /** Every chunk, in creation order, for eviction. */
  private order: Chunk[] = [];
  /** Bins before this were dropped with an evicted chunk. */
  private droppedBeforeNs = 0;

  /** Declares the device behind a slot (the engine calls it when it creates the slot). */
  addDevice(slot: number, deviceId: number): void {
    this.lanes[slot] = { deviceId, chunks: new Map(), current: null, currentFirstBin: 0 };
  }

  /** `count` (default 1) requests of the device in `slot` counted as `kind` (TL.*) at `atNs`. */
  record(kind: number, slot: number, atNs: number, count = 1): void {
    const lane = this.lanes[slot] as Lane;
    const bin = Math.floor(atNs / TIMELINE_BIN_NS);
    let c = lane.current;
    let offset = bin - lane.currentFirstBin;
    if (c === null || offset < 0 || offset >= TIMELINE_CHUNK_BINS) {
      c = this.chunk(lane, Math.floor(bin / TIMELINE_CHUNK_BINS));
      offset = bin - lane.currentFirstBin;
    }
    const i = offset * KINDS + kind;
    c.counts[i] = (c.counts[i] as number) + count;
  }

  /**
   * One `kind` per time in `times[from..to)` (non-decreasing), each shifted by
   * `shiftNs`: the same counts as a `record` per time, in the same order of chunk
   * first touches, but one `record` per bin. The bin of a time is the same
   * Math.floor as `record` takes, monotone in the time, so a bin's run ends at the
   * first time whose bin is larger: found by galloping then bisecting (a stream at
   * 1e9/s puts 10,000 arrivals in a bin; a slow one a single arrival).
   */
  recordSorted(kind: number, slot: number, times: Float64Array, from: number, to: number, shiftNs: number): void {
    let k = from;
    while (k < to) {
      const atNs = (times[k] as number) + shiftNs;
      const bin = Math.floor(atNs / TIMELINE_BIN_NS);
      // Largest known index still in `bin` (lo), smallest known beyond it or `to` (hi).
      let lo = k;
      let step = 1;
      let hi = to;
      while (lo + step < to) {
        if (Math.floor(((times[lo + step] as number) + shiftNs) / TIMELINE_BIN_NS) > bin) {
          hi = lo + step;
          break;
        }
        lo += step;
        step *= 2;
      }
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (Math.floor(((times[mid] as number) + shiftNs) / TIMELINE_BIN_NS) > bin) hi = mid;
        else lo = mid;
      }
      this.record(kind, slot, atNs, hi - k);
      k = hi;
    }
  }

  /** Drops every count; the devices stay declared. */
  reset(): void {
    for (const lane of this.lanes) {
      if (lane === undefined) continue;
      lane.chunks.clear();
      lane.current = null;
    }
    this.order = [];
    this.droppedBeforeNs = 0;
  }

  /** Forgets the devices too (the engine's slots were replaced). */
  clear(): void {
    this.lanes = [];
    this.order = [];
    this.droppedBeforeNs = 0;
  }

  /** Devices with counts, ascending. */
  deviceIds(): number[] {
    const ids = new Set<number>();
    for (const c of this.order) ids.add(c.lane.deviceId);
    return [...ids].sort((a, b) => a - b);
  }

  /** Earliest bin start held, or null when nothing is recorded. */
  retainedFromNs(): number | null {
    if (this.order.length === 0) return null;
    let min = Infinity;
    for (const c of this.order) min = Math.min(min, c.key);
    return Math.max(min * TIMELINE_CHUNK_BINS * TIMELINE_BIN_NS, this.droppedBeforeNs);
  }

  /**
   * Sums over [startNs, startNs + count x binNs) in bins of binNs (a multiple of
   * TIMELINE_BIN_NS; startNs a multiple of TIMELINE_BIN_NS), for one device or all.
   */
  window(binNs: number, startNs: number, count: number, deviceId?: number): TimelineWindow {
    const series = Object.fromEntries(TIMELINE_KINDS.map((k) => [k, new Array<number>(count).fill(0)])) as Record<TimelineKind, number[]>;
    const arrays = TIMELINE_KINDS.map((k) => series[k]);
    const per = binNs / TIMELINE_BIN_NS;
    const firstBin = startNs / TIMELINE_BIN_NS;
    const endBin = firstBin + count * per;
    for (const c of this.order) {
      if (deviceId !== undefined && c.lane.deviceId !== deviceId) continue;
      const c0 = c.key * TIMELINE_CHUNK_BINS;
      const from = Math.max(c0, firstBin);
      const to = Math.min(c0 + TIMELINE_CHUNK_BINS, endBin);
      for (let b = from; b < to; b++) {
        const out = Math.floor((b - firstBin) / per);
        const base = (b - c0) * KINDS;
        for (let k = 0; k < KINDS; k++) {
          const v = c.counts[base + k] as number;
          if (v !== 0) (arrays[k] as number[])[out] = ((arrays[k] as number[])[out] as number) + v;
        }
      }
    }
    return { binNs, startNs, count, retainedFromNs: this.retainedFromNs(), series };
  }

  /** The lane's chunk `chunkIndex`, created if new, made its current one. */
  private chunk(lane: Lane, chunkIndex: number): Chunk {
    let c = lane.chunks.get(chunkIndex);
    if (c === undefined) {
      c = { key: chunkIndex, lane, counts: new Uint32Array(TIMELINE_CHUNK_BINS * KINDS) };
      lane.chunks.set(chunkIndex, c);
      this.order.push(c);
      if (this.order.length > TIMELINE_MAX_CHUNKS) this.evict();
    }
    lane.current = c;
    lane.currentFirstBin = chunkIndex * TIMELINE_CHUNK_BINS;
    return c;
  }

  /** Drops the oldest chunk by time (a late completion may create an old chunk after newer ones). */
  /**
   * Counts before `ns` were not recorded (a batched run longer than the timeline
   * holds): the window reports them dropped, as evicted chunks are.
   */
  dropBefore(ns: number): void {
    this.droppedBeforeNs = Math.max(this.droppedBeforeNs, ns);
  }

  private evict(): void {
    let oldest = 0;
    for (let i = 1; i < this.order.length; i++) if ((this.order[i] as Chunk).key < (this.order[oldest] as Chunk).key) oldest = i;
    const c = this.order[oldest] as Chunk;
    this.order.splice(oldest, 1);
    c.lane.chunks.delete(c.key);
    if (c.lane.current === c) c.lane.current = null;
    this.droppedBeforeNs = Math.max(this.droppedBeforeNs, (c.key + 1) * TIMELINE_CHUNK_BINS * TIMELINE_BIN_NS);
  }
}
