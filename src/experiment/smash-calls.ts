/**
 * THE one place where the experiment runner prepares and runs a smash and sets the
 * stall model: the TMPM's preparePsmash / psmashIo (PSMASH_IO) / setStallModel.
 * Everything else in src/experiment speaks in these terms (the IOPDE, the prepared
 * table, the 2 MB page under them).
 */
import type { StallModel } from '../tmpm/stall-model.js';
import { stripCBit } from '../iommu/pte.js';
import { TMPM_STATUS } from '../tmpm/commands.js';
import type { Platform } from '../platform/platform.js';

/** What one smash of the 2 MB region at `iova` needs. */
export interface SmashPlan {
  domainId: number;
  iova: bigint;
  /** SPA of the 8-byte level-2 entry (the IOPDE) that maps the region: PSMASH_IO's src_hpmd_spa. */
  srcHpmdSpa: number;
  /** SPA of the 4 KB page already holding the 512 new PTEs. */
  tableSpa: number;
  /** SPA of the 2 MB page the region maps (the RMP entry PSMASH splits), C-bit stripped. */
  regionSpa: number;
  /** PSMASH_IO's four command-page values, as tmpm.preparePsmash gives them. */
  psmash: { srcPgSpa: bigint; smashHpteSpa: bigint; srcHpmdSpa: bigint; gctxSpa: bigint };
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
  p.tmpmSetStallModel(model);
}

/** Finds the IOPDE for `iova` and fills a fresh pool page with the 512 PTEs the engine expects. */
export function prepareSmash(p: Platform, domainId: number, iova: bigint): SmashPlan {
  const r = p.tmpmPreparePsmash(domainId, iova);
  const psmash = { srcPgSpa: r.srcPgSpa, smashHpteSpa: r.smashHpteSpa, srcHpmdSpa: r.srcHpmdSpa, gctxSpa: r.gctxSpa };
  return { domainId, iova, srcHpmdSpa: Number(r.srcHpmdSpa), tableSpa: Number(r.smashHpteSpa), regionSpa: stripCBit(Number(r.srcPgSpa), p.info().config.cBit), psmash };
}

/** The engine's atomic smash (PSMASH_IO): IOPDE and RMP entry changed under one DMA stall. */
export async function runSmash(p: Platform, plan: SmashPlan): Promise<SmashOutcome> {
  const r = await p.tmpmPsmashIo(plan.psmash);
  return { ok: r.status === TMPM_STATUS.SUCCESS, statusName: r.statusName, stallNs: r.stallNs, dmaHeld: r.dmaHeld, startNs: r.startNs, endNs: r.endNs };
}
