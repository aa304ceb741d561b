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

/** Bins one dma.timeline call returns at most. */
export const TIMELINE_MAX_BINS = 10_000;

/** What a bin counts, in this order in each chunk. */
export const TIMELINE_KINDS = ['issued', 'held', 'completed', 'ioPageFaults', 'rmpFaults', 'timeouts', 'aborted'] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];
export const TL = { ISSUED: 0, HELD: 1, COMPLETED: 2, IO_PAGE_FAULT: 3, RMP_FAULT: 4, TIMEOUT: 5, ABORTED: 6 } as const;
const KINDS = TIMELINE_KINDS.length;

interface Chunk {
  key: number;
  deviceId: number;
  /** bins x kinds, kind-major within a bin. */
  counts: Uint32Array;
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
  /** deviceId -> chunk index -> chunk. */
  private readonly devices = new Map<number, Map<number, Chunk>>();
  /** Every chunk, oldest first (creation order), for eviction. */
  private order: Chunk[] = [];
  private lastDevice = -1;
  private lastChunkIndex = -1;
  private lastChunk: Chunk | null = null;
  /** Earliest chunk start ever dropped + its length: bins before it are gone. */
  private droppedBeforeNs = 0;

  record(kind: number, deviceId: number, atNs: number): void {
    const bin = Math.floor(atNs / TIMELINE_BIN_NS);
    const chunkIndex = Math.floor(bin / TIMELINE_CHUNK_BINS);
    let c = this.lastChunk;
    if (c === null || this.lastChunkIndex !== chunkIndex || this.lastDevice !== deviceId) {
      c = this.chunk(deviceId, chunkIndex);
      this.lastChunk = c;
      this.lastChunkIndex = chunkIndex;
      this.lastDevice = deviceId;
    }
    const i = (bin - chunkIndex * TIMELINE_CHUNK_BINS) * KINDS + kind;
    c.counts[i] = (c.counts[i] as number) + 1;
  }

  reset(): void {
    this.devices.clear();
    this.order = [];
    this.lastChunk = null;
    this.lastChunkIndex = -1;
    this.lastDevice = -1;
    this.droppedBeforeNs = 0;
  }

  /** Devices with counts, ascending. */
  deviceIds(): number[] {
    return [...this.devices.keys()].sort((a, b) => a - b);
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
    const devices = deviceId === undefined ? [...this.devices.values()] : [this.devices.get(deviceId) ?? new Map<number, Chunk>()];
    for (const chunks of devices) {
      for (const c of chunks.values()) {
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
    }
    return { binNs, startNs, count, retainedFromNs: this.retainedFromNs(), series };
  }

  private chunk(deviceId: number, chunkIndex: number): Chunk {
    let chunks = this.devices.get(deviceId);
    if (chunks === undefined) this.devices.set(deviceId, (chunks = new Map()));
    let c = chunks.get(chunkIndex);
    if (c === undefined) {
      c = { key: chunkIndex, deviceId, counts: new Uint32Array(TIMELINE_CHUNK_BINS * KINDS) };
      chunks.set(chunkIndex, c);
      this.order.push(c);
      if (this.order.length > TIMELINE_MAX_CHUNKS) this.evict();
    }
    return c;
  }

  /** Drops the oldest chunk by time (a late completion may create an old chunk after newer ones). */
  private evict(): void {
    let oldest = 0;
    for (let i = 1; i < this.order.length; i++) if ((this.order[i] as Chunk).key < (this.order[oldest] as Chunk).key) oldest = i;
    const c = this.order[oldest] as Chunk;
    this.order.splice(oldest, 1);
    this.devices.get(c.deviceId)?.delete(c.key);
    if (this.devices.get(c.deviceId)?.size === 0) this.devices.delete(c.deviceId);
    this.droppedBeforeNs = Math.max(this.droppedBeforeNs, (c.key + 1) * TIMELINE_CHUNK_BINS * TIMELINE_BIN_NS);
    if (this.lastChunk === c) {
      this.lastChunk = null;
      this.lastChunkIndex = -1;
    }
  }
}
