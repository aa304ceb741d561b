/**
 * Map entries kept at a dead value (a count of 0, an emptied page) instead of being
 * deleted: V8 rehashes a Map of ~1,000 entries again and again under delete/re-add
 * churn of the same keys, which a smash per call caused (the page pool, HostMemory's
 * pages, LiveTables). The dead ones are swept all at once when the deaths since the
 * last sweep outnumber the other entries (and MIN_DEATHS_PER_SWEEP): amortized O(1)
 * per death, and a client cycling through distinct keys cannot grow a Map past about
 * twice its live entries plus MIN_DEATHS_PER_SWEEP.
 */
const MIN_DEATHS_PER_SWEEP = 1024;

export class DeadEntries<K, V> {
  private deaths = 0;

  constructor(private readonly isDead: (value: V) => boolean) {}

  /** One entry of `map` became dead (and stays, for now): sweeps them all when due. */
  died(map: Map<K, V>): void {
    // Deaths since the last sweep bound the dead entries from above (some may have
    // come back to life): sweep once they outnumber the rest.
    if (++this.deaths <= Math.max(MIN_DEATHS_PER_SWEEP, map.size - this.deaths)) return;
    for (const [key, value] of map) if (this.isDead(value)) map.delete(key);
    this.deaths = 0;
  }
}
