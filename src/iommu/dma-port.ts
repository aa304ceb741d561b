/**
 * What the DMA engine asks of the IOMMU (protocol/README.md §8): translate one access
 * (IOTLB, else a page walk) and RMP-check it at the clock's current time. The
 * IOMMU implements it (`DmaAccessPort`, over its tables and the RMP); tests use a
 * fake. The engine owns timing, stalls and statistics; the port owns every table
 * and the event log.
 */
export type DmaAccessOutcome = 'ok' | 'io_page_fault' | 'rmp_fault';

export interface DmaAccess {
  outcome: DmaAccessOutcome;
  /** Host page number the access reached (meaningful when `outcome` is ok). */
  spaPfn: number;
  /** IOTLB hit 50 ns, else 100 ns per level read (protocol/README.md §8). */
  translationNs: number;
  /** Why a fault happened, for results and events; '' when ok is fine. */
  reason: string;
  /** The translation looked in the IOTLB and missed (it walked). */
  iotlbMiss: boolean;
}

export interface DmaPort {
  /**
   * `n` requests the engine accounted as known ok IOTLB hits without calling
   * access (the batched and closed-form paths), for the port's lookup counters.
   */
  countHits?(n: number): void;
  /**
   * Translate (IOTLB, else walk) and RMP-check one access at the clock's current
   * time. Logs IO_PAGE_FAULT / RMP_PAGE_FAULT itself. Fills `out` (no allocation:
   * this runs once per simulated request). `pageOff` is the request's offset in the
   * page: fault events carry the faulting address, not just its page.
   */
  access(deviceId: number, iovaPfn: number, write: boolean, out: DmaAccess, pageOff: number): void;
  /** Domain of the device's valid DTE, or -1 (decides which stalls cover it). */
  domainOf(deviceId: number): number;
  /**
   * Optional, for the engine's closed form: the translation time when `access` would
   * be an ok IOTLB hit that changes nothing (cached DTE, cached leaf with the right
   * permission, RMP check passes), else -1. Must have no side effect at all.
   */
  peekHit?(deviceId: number, iovaPfn: number, write: boolean): number;
  /**
   * Optional, for the engine's batches: a number that changes whenever an access may
   * change what later accesses see (an IOTLB fill or eviction, a DTE cache fill). While
   * it stays the same, an access that was an ok IOTLB hit is one again.
   */
  version?(): number;
}

/** A reusable scratch record for `DmaPort.access`. */
export function newDmaAccess(): DmaAccess {
  return { outcome: 'ok', spaPfn: 0, translationNs: 0, reason: '', iotlbMiss: false };
}
