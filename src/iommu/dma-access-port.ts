/**
 * The IOMMU's side of the DMA engine's port: one access = IOMMU translation
 * (IOTLB, else a walk) + the IOMMU RMP check (protocol/README.md §6.5), with
 * faults logged to the event log as the hardware would. Runs once per simulated
 * request, so it allocates nothing on the ok path.
 */
import type { DmaAccess, DmaPort } from './dma-port.js';
import type { Iommu, Translation } from './iommu.js';
import { newTranslation } from './iommu.js';
import type { RmpTable } from '../rmp/rmp-table.js';
import { RMP_FAULT_FLAGS, rmpCheck, rmpFlagsReason } from './rmp-check.js';
import type { VirtualClock } from '../clock/virtual-clock.js';
import type { RmpSizeRule } from './rmp-check.js';
import type { TimingOptions } from './timing.js';

/**
 * The TEE-IO bindings the RMP check needs (the SEV firmware keeps them; TDI_BIND):
 * handed in by whoever assembles the machine, so the IOMMU never imports the firmware.
 */
export interface TeeIoBindings {
  /** The guest ASID of the device's TDI in RUN, or -1 for an untrusted device. */
  boundAsid(deviceId: number): number;
  /** The ASID the device's DMA is fenced from (after a TDI unbind or ERROR, until FENCE_CLEAR), or -1. */
  fencedAsid(deviceId: number): number;
  /** Moves whenever either answer changes (part of the port's version). */
  readonly teeIoVersion: number;
}

export class DmaAccessPort implements DmaPort {
  private readonly tr: Translation = newTranslation();
  /** The binding and fence access() read last, for `lastDevice`, while bindings.teeIoVersion holds. */
  private lastDevice = -1;
  private lastTeeIoVersion = -1;
  private lastAsid = -1;
  private lastFenced = -1;
  /** DMA translations answered by the IOTLB / by a walk (GET /metrics: the hit rate). */
  iotlbHits = 0;
  iotlbMisses = 0;

  countHits(n: number): void {
    this.iotlbHits += n;
  }

  constructor(
    private readonly iommu: Iommu,
    private readonly rmp: RmpTable,
    private readonly bindings: TeeIoBindings,
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
    this.readBinding(deviceId);
    const asid = this.lastAsid;
    const fenced = this.lastFenced;
    const flags = rmpCheck(this.rmp, tr.spaPfn, iovaPfn, tr.leafSizeLg2, tr.leafSpaBasePfn, asid, this.rule(), fenced);
    if (flags !== 0) {
      out.outcome = 'rmp_fault';
      out.spaPfn = tr.spaPfn;
      out.reason = rmpFlagsReason(flags);
      // RMP_PAGE_FAULT: the VMG tag is the guest ASID (0 for an untrusted device), the address the GPA (= IOVA).
      // The VMG tag: the bound ASID, the fenced one for a fenced access, else 0.
      this.iommu.logRmpPageFault(deviceId, Math.max(0, asid, (flags & RMP_FAULT_FLAGS.FENCED) !== 0 ? fenced : 0), BigInt(iovaPfn) * 4096n + BigInt(pageOff), write, flags, this.clock.nowNs);
      return;
    }
    out.outcome = 'ok';
    out.spaPfn = tr.spaPfn;
    out.reason = '';
  }

  version(): number {
    return this.iommu.iotlb.version + this.iommu.dteCacheVersion + this.bindings.teeIoVersion;
  }

  peekHit(deviceId: number, iovaPfn: number, write: boolean): number {
    const tr = this.tr;
    if (!this.iommu.peekHit(deviceId, iovaPfn, write, tr)) return -1;
    this.readBinding(deviceId);
    const flags = rmpCheck(this.rmp, tr.spaPfn, iovaPfn, tr.leafSizeLg2, tr.leafSpaBasePfn, this.lastAsid, this.rule(), this.lastFenced);
    return flags === 0 ? this.timing.iotlbHitNs : -1;
  }

  /** lastAsid and lastFenced for `deviceId`: the bindings' answers, asked again only when they may have changed. */
  private readBinding(deviceId: number): void {
    const b = this.bindings;
    if (deviceId === this.lastDevice && b.teeIoVersion === this.lastTeeIoVersion) return;
    this.lastAsid = b.boundAsid(deviceId);
    this.lastFenced = this.lastAsid < 0 ? b.fencedAsid(deviceId) : -1;
    this.lastDevice = deviceId;
    this.lastTeeIoVersion = b.teeIoVersion;
  }

  domainOf(deviceId: number): number {
    return this.iommu.domainOf(deviceId);
  }
}
