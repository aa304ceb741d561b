/**
 * The IOMMU's RMP check for one DMA access (protocol/README.md §6.5): a pure function
 * of the translation, the RMP and the device's binding. It runs on every DMA, so it
 * reads the RMP through the table's number-only accessors into one module-level
 * scratch record.
 */
import { newRmpScratch } from '../rmp/rmp-entry.js';
import type { RmpTable } from '../rmp/rmp-table.js';

/** protocol/README.md §6.5: leaf size T must equal the RMP size R, or not exceed it. */
export type RmpSizeRule = 'equal' | 'not-larger';

/** Our flag bits for RMP_PAGE_FAULT events (protocol/README.md §6.5), ORed. */
export const RMP_FAULT_FLAGS = {
  /** A TEE-IO access to an unassigned page (reported alone). */
  NOT_ASSIGNED: 0x01,
  /** An untrusted access to an assigned page. */
  ASSIGNED: 0x02,
  ASID_MISMATCH: 0x04,
  GPA_MISMATCH: 0x08,
  NOT_VALIDATED: 0x10,
  /** Leaf size vs RMP size under the rule; also an untrusted leaf > 4 KB covering an assigned page. */
  SIZE_MISMATCH: 0x20,
  /** An access by a device fenced from the page's ASID (after a TDI unbind or ERROR, until FENCE_CLEAR). */
  FENCED: 0x40,
} as const;

/** RMP_FAULT_FLAGS names in a fault's reason: NOT_ASSIGNED -> 'not-assigned'. */
const FLAG_NAMES = Object.entries(RMP_FAULT_FLAGS).map(([name, bit]) => [bit, name.toLowerCase().replaceAll('_', '-')] as const);

/** Cached per flag combination: reasons are built once, not per request. */
const reasonCache = new Map<number, string>();

/** The reason a DMA result and event carry for ORed RMP_FAULT_FLAGS: 'rmp:asid-mismatch+gpa-mismatch'. */
export function rmpFlagsReason(flags: number): string {
  let r = reasonCache.get(flags);
  if (r === undefined) {
    r =
      'rmp:' +
      FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0)
        .map(([, n]) => n)
        .join('+');
    reasonCache.set(flags, r);
  }
  return r;
}

const scratch = newRmpScratch();

/**
 * Returns 0 when the access is allowed, else the ORed RMP_FAULT_FLAGS.
 * @param spaPfn       the accessed page (SPA >> 12)
 * @param iovaPfn      the accessed IOVA page; for TEE-IO the IOVA is the guest GPA
 * @param leafSizeLg2  log2 of the translating leaf's size in bytes (12, 21, 30, NL=7 sizes...)
 * @param leafSpaBasePfn first SPA page of that leaf
 * @param boundAsid    the TDI's guest ASID, or -1 for an untrusted device
 * @param fencedAsid   the ASID the device is fenced from, or -1
 */
export function rmpCheck(rmp: RmpTable, spaPfn: number, iovaPfn: number, leafSizeLg2: number, leafSpaBasePfn: number, boundAsid: number, rule: RmpSizeRule, fencedAsid = -1): number {
  if (boundAsid >= 0) {
    const e = rmp.readEntryInto(spaPfn, scratch);
    if (!e.assigned) return RMP_FAULT_FLAGS.NOT_ASSIGNED;
    let flags = 0;
    if (e.asid !== boundAsid) flags |= RMP_FAULT_FLAGS.ASID_MISMATCH;
    if (e.pageGpaPfn !== iovaPfn) flags |= RMP_FAULT_FLAGS.GPA_MISMATCH;
    if (!e.validated) flags |= RMP_FAULT_FLAGS.NOT_VALIDATED;
    // RMP sizes are 12 or 21, so a 1 GB leaf (30) fails under both rules.
    const sizeOk = rule === 'equal' ? leafSizeLg2 === e.pageSizeLg2 : leafSizeLg2 <= e.pageSizeLg2;
    if (!sizeOk) flags |= RMP_FAULT_FLAGS.SIZE_MISMATCH;
    return flags;
  }
  let flags = rmp.isAssigned(spaPfn) ? RMP_FAULT_FLAGS.ASSIGNED : 0;
  if (fencedAsid >= 0 && flags !== 0 && rmp.readEntryInto(spaPfn, scratch).asid === fencedAsid) flags |= RMP_FAULT_FLAGS.FENCED;
  // A leaf larger than 4 KB over any assigned page fails on every access through it
  // (why upstream Linux uses 4 KB IOPTEs with the RMP, hardware.md context).
  if (leafSizeLg2 > 12 && rmp.anyAssignedIn(leafSpaBasePfn, 2 ** (leafSizeLg2 - 12))) flags |= RMP_FAULT_FLAGS.SIZE_MISMATCH;
  return flags;
}
