/**
 * The machine's running figures that GET /metrics scrapes, read in one place so the
 * server never reaches into the machine's parts.
 */
import type { Machine } from './machine.js';

export interface MachineReadings {
  /** Virtual time, ns. */
  nowNs: number;
  /** Realtime mode: how far virtual time runs behind the wall clock, ns (0 when keeping up). */
  clockLagNs: number;
  /** Cached IOMMU translations. */
  iotlbEntries: number;
  /** Entries in the IOMMU event log ring. */
  eventLogEntries: number;
  /** DMA translations answered by the IOTLB / by a walk since the machine was built. */
  iotlbHits: number;
  iotlbMisses: number;
  /** TMPM interrupts since the machine was built, by reason (RB_ERR, WPTR_ERR). */
  tmpmInterrupts: ReadonlyMap<string, number>;
  /** TMPM ring entries between the tail and the head (the running one included). */
  tmpmPendingEntries: number;
}

export function readingsOf(m: Machine): MachineReadings {
  return {
    nowNs: m.clock.nowNs,
    clockLagNs: m.clockLagNs(),
    iotlbEntries: m.iommu.iotlb.size,
    eventLogEntries: m.iommu.eventLog.length,
    iotlbHits: m.port.iotlbHits,
    iotlbMisses: m.port.iotlbMisses,
    tmpmInterrupts: m.tmpm.counts.interrupts,
    tmpmPendingEntries: m.tmpm.pendingEntries(),
  };
}
