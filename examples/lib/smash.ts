/**
 * Preparing a smash over the wire, as KVM and AMD's TMPM driver do before PSMASH_IO:
 * `tmpm.preparePsmash` finds the level-2 IOMMU entry mapping the 2 MB region, fills
 * a hypervisor-owned pool page with the 512 PTEs the engine checks (low 12 bits
 * 0x001, address old + i x 4 KB, bits 63:52 copied) and names the guest context
 * page. `tmpm.psmashIo` then submits the command through the engine's ring.
 * examples/tmpm-driver.ts does the same by hand, register by register.
 */
import type { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { hex } from './format.js';

/** The TMPM status of a successful command (hardware.md §2.4); failures are 0x01-0x19. */
export const TMPM_SUCCESS = 0xf0;

export interface SmashPlan {
  domainId: number;
  /** 2 MB-aligned IOVA (the guest GPA for a TEE-IO device). */
  iova: bigint;
  /** src_pg_paddr: the 2 MB page. */
  srcPgSpa: bigint;
  /** src_hpmd_paddr: SPA of the 8-byte level-2 entry. */
  iopdeSpa: bigint;
  /** Its value: a present 2 MB leaf (NextLevel 0). */
  iopde: bigint;
  /** smash_hpte_paddr: the prepared 4 KB table of 512 PTEs. */
  tableSpa: bigint;
  /** The guest context page of the guest the domain's devices are bound to. */
  gctxSpa: bigint;
}

/** Everything tmpm.psmashIo needs for the 2 MB region at `iova` of `domainId`. */
export async function prepareSmash(client: SmashEmuClient, domainId: number, iova: bigint): Promise<SmashPlan> {
  const p = await client.call('tmpm.preparePsmash', { domainId, iova: hex(iova) });
  return {
    domainId,
    iova,
    srcPgSpa: BigInt(p.srcPgSpa),
    iopdeSpa: BigInt(p.srcHpmdSpa),
    iopde: BigInt(p.entry),
    tableSpa: BigInt(p.smashHpteSpa),
    gctxSpa: BigInt(p.gctxSpa),
  };
}

/** The wire params of tmpm.psmashIo for a plan: the four command-page fields. */
export function psmashParams(plan: SmashPlan) {
  return { srcPgSpa: hex(plan.srcPgSpa), smashHpteSpa: hex(plan.tableSpa), srcHpmdSpa: hex(plan.iopdeSpa), gctxSpa: hex(plan.gctxSpa) };
}
