/**
 * The platform's side of the DMA engine's port: one access = IOMMU translation
 * (IOTLB, else a walk) + the IOMMU RMP check (protocol/README.md §6.5), with
 * faults logged to the event log as the hardware would. Runs once per simulated
 * request, so it allocates nothing on the ok path.
 */
import type { DmaAccess, DmaPort } from '../dma/dma-port.js';
import type { Iommu, Translation } from '../iommu/iommu.js';
import { newTranslation } from '../iommu/iommu.js';
import type { RmpTable } from '../rmp/rmp-table.js';
import { rmpCheck } from '../iommu/rmp-check.js';
import type { VirtualClock } from '../clock/virtual-clock.js';
import type { RmpSizeRule, TeeIoLookup } from '../iommu/rmp-check.js';
import type { TimingOptions } from './options.js';

export class PlatformDmaPort implements DmaPort {
  private readonly tr: Translation = newTranslation();
  /** DMA translations answered by the IOTLB / by a walk (GET /metrics: the hit rate). */
  iotlbHits = 0;
  iotlbMisses = 0;

  countHits(n: number): void {
    this.iotlbHits += n;
  }

  constructor(
    private readonly iommu: Iommu,
    private readonly rmp: RmpTable,
    private readonly fw: TeeIoLookup,
    private readonly clock: VirtualClock,
    private readonly timing: TimingOptions,
    private readonly rule: () => RmpSizeRule,
  ) {}

  access(deviceId: number, iovaPfn: number, write: boolean, out: DmaAccess, pageOff: number): void {
    const tr = this.tr;
    this.iommu.translatePage(deviceId, iovaPfn, write, tr);
    if (tr.hit) this.iotlbHits++;
    else this.iotlbMisses++;
    out.translationNs = tr.hit ? this.timing.iotlbHitNs : tr.levelsRead * this.timing.walkLevelNs;
    // A device with a valid DTE has a domain: its lookup missed when it did not hit.
    out.iotlbMiss = !tr.hit && tr.domainId >= 0;
    if (!tr.ok) {
      out.outcome = 'io_page_fault';
      out.spaPfn = 0;
      out.reason = tr.reason ?? 'io-page-fault';
      // A device without a valid DTE has no domain: the event carries domain 0.
      this.iommu.logIoPageFault(deviceId, Math.max(0, tr.domainId), BigInt(iovaPfn) * 4096n + BigInt(pageOff), write, tr.present, tr.permission, this.clock.nowNs);
      return;
    }
    const asid = this.fw.boundAsid(deviceId);
    const fenced = asid < 0 ? this.fw.fencedAsid(deviceId) : -1;
    const flags = rmpCheck(this.rmp, tr.spaPfn, iovaPfn, tr.leafSizeLg2, tr.leafSpaBasePfn, asid, this.rule(), fenced);
    if (flags !== 0) {
      out.outcome = 'rmp_fault';
      out.spaPfn = tr.spaPfn;
      out.reason = rmpFlagsReason(flags);
      // RMP_PAGE_FAULT: the VMG tag is the guest ASID (the fenced one for a fenced device, 0 for an untrusted one), the address the GPA (= IOVA).
      this.iommu.logRmpPageFault(deviceId, Math.max(0, asid, (flags & 0x40) !== 0 ? fenced : 0), BigInt(iovaPfn) * 4096n + BigInt(pageOff), write, flags, this.clock.nowNs);
      return;
    }
    out.outcome = 'ok';
    out.spaPfn = tr.spaPfn;
    out.reason = '';
  }

  version(): number {
    return this.iommu.iotlb.version + this.iommu.dteCacheVersion + this.fw.teeIoVersion;
  }

  peekHit(deviceId: number, iovaPfn: number, write: boolean): number {
    const tr = this.tr;
    if (!this.iommu.peekHit(deviceId, iovaPfn, write, tr)) return -1;
    const asid = this.fw.boundAsid(deviceId);
    const flags = rmpCheck(this.rmp, tr.spaPfn, iovaPfn, tr.leafSizeLg2, tr.leafSpaBasePfn, asid, this.rule(), asid < 0 ? this.fw.fencedAsid(deviceId) : -1);
    return flags === 0 ? this.timing.iotlbHitNs : -1;
  }

  domainOf(deviceId: number): number {
    return this.iommu.domainOf(deviceId);
  }
}

const FLAG_NAMES: Array<[number, string]> = [
  [0x01, 'not-assigned'],
  [0x02, 'assigned'],
  [0x04, 'asid-mismatch'],
  [0x08, 'gpa-mismatch'],
  [0x10, 'not-validated'],
  [0x20, 'size-mismatch'],
  [0x40, 'fenced'],
];

/** Cached per flag combination: reasons are built once, not per request. */
const reasonCache = new Map<number, string>();

export function rmpFlagsReason(flags: number): string {
  let r = reasonCache.get(flags);
  if (r === undefined) {
    r = 'rmp:' + FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n).join('+');
    reasonCache.set(flags, r);
  }
  return r;
}
