/**
 * The platform's event bus (DESIGN.md "events.subscribe"): topics fw (command,
 * params, result), stall (begin and end), iommu (each logged event), rmp (each
 * change), dma (non-ok outcomes), clock (progress of a long clock.advance). Listeners
 * run synchronously, so the notifications a call causes are sent before its response.
 */
export const EVENT_TOPICS = ['fw', 'stall', 'iommu', 'rmp', 'dma', 'clock'] as const;
export type EventTopic = (typeof EVENT_TOPICS)[number];

export type EventListener = (topic: EventTopic, atNs: number, data: Record<string, unknown>) => void;

export class EventBus {
  private readonly listeners = new Map<EventTopic, Set<EventListener>>();

  /** Cheap check so hot paths build no event data when nobody listens. */
  has(topic: EventTopic): boolean {
    const set = this.listeners.get(topic);
    return set !== undefined && set.size > 0;
  }

  emit(topic: EventTopic, atNs: number, data: Record<string, unknown>): void {
    const set = this.listeners.get(topic);
    if (set === undefined) return;
    for (const fn of set) fn(topic, atNs, data);
  }

  /** Returns the function that removes the listener. */
  subscribe(topics: readonly EventTopic[], fn: EventListener): () => void {
    for (const t of topics) {
      let set = this.listeners.get(t);
      if (set === undefined) this.listeners.set(t, (set = new Set()));
      set.add(fn);
    }
    return () => {
      for (const t of topics) this.listeners.get(t)?.delete(fn);
    };
  }

  listenerCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}
