/**
 * The platform's event bus (protocol/README.md §11): topics fw (command,
 * params, result), tmpm (each TMPM command, control write and interrupt), stall (begin and end),
 * iommu (each logged event), rmp (each change), dma (non-ok outcomes), clock (progress
 * of a long clock.advance), psp (each PSP mailbox command, SPDM step, interrupt and
 * ignored CMDRESP write). Listeners run synchronously, so the notifications a call
 * causes are sent before its response.
 *
 * Two more topics are internal (never on the wire, not subscribable): `iommuCommand`
 * (each iommu.command and its decoded result) for the trace's IOMMU track. Taps
 * (`tap`) are the platform's own listeners (metrics, traces): they make topics
 * emit like any listener but are not counted by `listenerCount`, which counts
 * clients' subscriptions.
 */
export const EVENT_TOPICS = ['fw', 'tmpm', 'stall', 'iommu', 'rmp', 'dma', 'clock', 'psp'] as const;
export type EventTopic = (typeof EVENT_TOPICS)[number];
export const INTERNAL_TOPICS = ['iommuCommand'] as const;
export type BusTopic = EventTopic | (typeof INTERNAL_TOPICS)[number];

export type EventListener = (topic: EventTopic, atNs: number, data: Record<string, unknown>) => void;
export type TapListener = (topic: BusTopic, atNs: number, data: Record<string, unknown>) => void;

export class EventBus {
  private readonly listeners = new Map<BusTopic, Set<TapListener>>();
  private taps = 0;
  /** Inside quiet(): nothing is emitted. */
  private muted = 0;

  /** Cheap check so hot paths build no event data when nobody listens. */
  has(topic: BusTopic): boolean {
    const set = this.listeners.get(topic);
    return set !== undefined && set.size > 0 && this.muted === 0;
  }

  emit(topic: BusTopic, atNs: number, data: Record<string, unknown>): void {
    if (this.muted > 0) return;
    const set = this.listeners.get(topic);
    if (set === undefined) return;
    for (const fn of set) fn(topic, atNs, data);
  }

  /** A client's listener (events.subscribe). Returns the function that removes it. */
  subscribe(topics: readonly EventTopic[], fn: EventListener): () => void {
    return this.add(topics, fn as TapListener);
  }

  /** The platform's own listener (metrics, traces), internal topics included; not counted by listenerCount. */
  tap(topics: readonly BusTopic[], fn: TapListener): () => void {
    const off = this.add(topics, fn);
    this.taps += topics.length;
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      this.taps -= topics.length;
      off();
    };
  }

  /** Runs `fn` with every topic silent (a scenario's bring-up before time 0 is nobody's event). */
  quiet<T>(fn: () => T): T {
    this.muted++;
    try {
      return fn();
    } finally {
      this.muted--;
    }
  }

  /** Listeners of clients' subscriptions (taps excluded), one per topic each. */
  listenerCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n - this.taps;
  }

  private add(topics: readonly BusTopic[], fn: TapListener): () => void {
    for (const t of topics) {
      let set = this.listeners.get(t);
      if (set === undefined) this.listeners.set(t, (set = new Set()));
      set.add(fn);
    }
    return () => {
      for (const t of topics) this.listeners.get(t)?.delete(fn);
    };
  }
}
