/**
 * Requests that translated ok and are being serviced, until their completion time
 * (DESIGN.md "Notes for a fast implementation": no closure, promise or clock event
 * per request).
 *
 * Why no clock event per completion: a completion changes nothing but counters, so
 * it only has to be counted before anyone reads them. A request decided at `nowNs`
 * completes at nowNs + (translationNs + serviceNs); `nowNs` never goes back and the
 * sum takes a handful of values (an IOTLB hit, walks of 1-6 levels), so one FIFO per
 * sum is sorted by completion time. Readers call `settle(nowNs)` first; each push
 * settles its own FIFO, which bounds memory by the requests really in flight. A
 * completion due at T therefore counts as completed for any read at time T.
 *
 * Entries are parallel typed-array rings: no allocation per request.
 */
export interface CompletionSink {
  /** `doneNs`: when it completed (the completion time, not the time it was counted). */
  onCompleted(latencyNs: number, deviceSlot: number, streamSlot: number, doneNs: number): void;
}

/** A pending completion as state documents carry it. */
export interface PendingCompletion {
  doneNs: number;
  latencyNs: number;
  /** doneNs - decision time: the FIFO it belongs to. */
  spanNs: number;
  deviceSlot: number;
  streamSlot: number;
}

class Fifo {
  doneNs = new Float64Array(64);
  latencyNs = new Float64Array(64);
  deviceSlot = new Int32Array(64);
  streamSlot = new Int32Array(64);
  head = 0;
  size = 0;

  constructor(readonly spanNs: number) {}

  push(doneNs: number, latencyNs: number, deviceSlot: number, streamSlot: number): void {
    if (this.size === this.doneNs.length) this.grow();
    const cap = this.doneNs.length;
    const i = (this.head + this.size) & (cap - 1);
    this.doneNs[i] = doneNs;
    this.latencyNs[i] = latencyNs;
    this.deviceSlot[i] = deviceSlot;
    this.streamSlot[i] = streamSlot;
    this.size++;
  }

  settle(nowNs: number, sink: CompletionSink): void {
    const mask = this.doneNs.length - 1;
    while (this.size > 0 && (this.doneNs[this.head] as number) <= nowNs) {
      const h = this.head;
      sink.onCompleted(this.latencyNs[h] as number, this.deviceSlot[h] as number, this.streamSlot[h] as number, this.doneNs[h] as number);
      this.head = (h + 1) & mask;
      this.size--;
    }
  }

  *entries(): Generator<PendingCompletion> {
    const mask = this.doneNs.length - 1;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & mask;
      yield {
        doneNs: this.doneNs[i] as number,
        latencyNs: this.latencyNs[i] as number,
        spanNs: this.spanNs,
        deviceSlot: this.deviceSlot[i] as number,
        streamSlot: this.streamSlot[i] as number,
      };
    }
  }

  private grow(): void {
    const cap = this.doneNs.length;
    const mask = cap - 1;
    const d = new Float64Array(cap * 2);
    const l = new Float64Array(cap * 2);
    const dev = new Int32Array(cap * 2);
    const st = new Int32Array(cap * 2);
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & mask;
      d[k] = this.doneNs[i] as number;
      l[k] = this.latencyNs[i] as number;
      dev[k] = this.deviceSlot[i] as number;
      st[k] = this.streamSlot[i] as number;
    }
    this.doneNs = d;
    this.latencyNs = l;
    this.deviceSlot = dev;
    this.streamSlot = st;
    this.head = 0;
  }
}

export class CompletionQueue {
  private readonly fifos = new Map<number, Fifo>();
  /** Most requests share one span (IOTLB hits): skip the Map lookup for them. */
  private last: Fifo | null = null;

  constructor(private readonly sink: CompletionSink) {}

  /** `nowNs` is the decision time: completion at nowNs + spanNs. */
  push(nowNs: number, spanNs: number, latencyNs: number, deviceSlot: number, streamSlot: number): void {
    let f = this.last;
    if (f === null || f.spanNs !== spanNs) {
      f = this.fifos.get(spanNs) ?? null;
      if (f === null) {
        f = new Fifo(spanNs);
        this.fifos.set(spanNs, f);
      }
      this.last = f;
    }
    f.settle(nowNs, this.sink);
    f.push(nowNs + spanNs, latencyNs, deviceSlot, streamSlot);
  }

  settle(nowNs: number): void {
    for (const f of this.fifos.values()) f.settle(nowNs, this.sink);
  }

  get size(): number {
    let n = 0;
    for (const f of this.fifos.values()) n += f.size;
    return n;
  }

  /** FIFO by FIFO, each in completion order: replaying `restore` rebuilds the same queue. */
  entries(): PendingCompletion[] {
    const out: PendingCompletion[] = [];
    for (const f of this.fifos.values()) for (const e of f.entries()) out.push(e);
    return out;
  }

  /** Appends a pending entry from a validated state document. */
  restore(e: PendingCompletion): void {
    let f = this.fifos.get(e.spanNs);
    if (f === undefined) {
      f = new Fifo(e.spanNs);
      this.fifos.set(e.spanNs, f);
    }
    f.push(e.doneNs, e.latencyNs, e.deviceSlot, e.streamSlot);
  }
}
