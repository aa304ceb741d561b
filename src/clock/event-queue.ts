/**
 * The virtual clock's event queue: a binary min-heap of plain records ordered by
 * (atNs, seq), so events due at the same time fire in the order they were
 * scheduled. No closure or promise per event: a record names its target object
 * and a small integer kind.
 */
export interface EventTarget {
  onClockEvent(event: ClockEvent): void;
}

export interface ClockEvent {
  atNs: number;
  seq: number;
  kind: number;
  target: EventTarget;
  /** Free slot for the target (a request record, a stall...). */
  data: unknown;
  /** A cancelled event is skipped when it reaches the top. */
  cancelled: boolean;
}

export class EventQueue {
  private heap: ClockEvent[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** The seq the next pushed event gets (state documents carry it). */
  get nextSeq(): number {
    return this.seq;
  }

  set nextSeq(value: number) {
    this.seq = value;
  }

  /**
   * Schedules an event; `seq` restores one from a state document (it must be below
   * nextSeq, which the loader restores too), so equal-time order survives a reload.
   */
  push(atNs: number, target: EventTarget, kind: number, data: unknown = null, seq?: number): ClockEvent {
    const ev: ClockEvent = { atNs, seq: seq ?? this.seq++, kind, target, data, cancelled: false };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as ClockEvent;
      if (!before(ev, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = ev;
    return ev;
  }

  peek(): ClockEvent | undefined {
    return this.heap[0];
  }

  pop(): ClockEvent | undefined {
    const h = this.heap;
    const top = h[0];
    if (top === undefined) return undefined;
    const last = h.pop() as ClockEvent;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        if (r < n && before(h[r] as ClockEvent, h[l] as ClockEvent)) c = r;
        if (!before(h[c] as ClockEvent, last)) break;
        h[i] = h[c] as ClockEvent;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  /** Time of the earliest live event, or undefined. */
  nextAtNs(): number | undefined {
    while (this.heap.length > 0 && (this.heap[0] as ClockEvent).cancelled) this.pop();
    return this.heap[0]?.atNs;
  }

  clear(): void {
    this.heap = [];
  }

  /** Live events in firing order (state dumps). */
  liveEvents(): ClockEvent[] {
    return this.heap.filter((e) => !e.cancelled).sort((a, b) => (before(a, b) ? -1 : 1));
  }
}

function before(a: ClockEvent, b: ClockEvent): boolean {
  return a.atNs < b.atNs || (a.atNs === b.atNs && a.seq < b.seq);
}
