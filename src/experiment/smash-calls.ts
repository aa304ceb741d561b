/**
 * THE one place where the experiment runner prepares and runs a smash and sets the
 * stall model. Everything else in src/experiment speaks in these terms (the IOPDE,
 * the prepared table, the 2 MB page under them), so moving the engine to another
 * interface (the TMPM's preparePsmash / psmashIo / setStallModel) changes only the
 * bodies of the three functions below.
 */
import type { StallModel } from '../firmware/stall-model.js';
import { pteAddressField } from '../iommu/pte.js';
import type { Platform } from '../platform/platform.js';

/** What one smash of the 2 MB region at `iova` needs. */
export interface SmashPlan {
  domainId: number;
  iova: bigint;
  /** SPA of the 8-byte level-2 entry (the IOPDE) that maps the region. */
  iopdeSpa: number;
  /** SPA of the 4 KB page already holding the 512 new PTEs. */
  tableSpa: number;
  /** SPA of the 2 MB page the region maps (the RMP entry PSMASH splits). */
  regionSpa: number;
}

/** One smash's outcome, as the report shows it. */
export interface SmashOutcome {
  ok: boolean;
  statusName: string;
  stallNs: number;
  dmaHeld: number;
  startNs: number;
  endNs: number;
}

/** The stall model every later smash of this platform uses (the whole model, not a patch). */
export function setStallModel(p: Platform, model: StallModel): void {
  p.fwSetStallModel(model);
}

/** Finds the IOPDE for `iova` and fills a fresh pool page with the 512 PTEs the engine expects. */
export function prepareSmash(p: Platform, domainId: number, iova: bigint): SmashPlan {
  const r = p.iommuPrepareSmash(domainId, iova);
  return { domainId, iova, iopdeSpa: Number(r.iopdeSpa), tableSpa: Number(r.tableSpa), regionSpa: pteAddressField(r.iopde) };
}

/** The engine's atomic smash: IOPDE and RMP entry changed under one DMA stall. */
export async function runSmash(p: Platform, plan: SmashPlan): Promise<SmashOutcome> {
  const r = await p.fwSmashIopde({ domainId: plan.domainId, iova: plan.iova, iopdeSpa: plan.iopdeSpa, tableSpa: plan.tableSpa });
  return { ok: r.status === 0, statusName: r.statusName, stallNs: r.stallNs ?? 0, dmaHeld: r.dmaHeld ?? 0, startNs: r.startNs ?? 0, endNs: r.endNs ?? 0 };
}
