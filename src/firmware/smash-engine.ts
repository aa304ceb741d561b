/**
 * The smash engine (DESIGN.md "The smash engine"): while DMA in scope is stalled,
 * swap a 2 MB IOPDE for a table of 512 4 KB PTEs and PSMASH the matching RMP
 * entry (`smashIopde`), or the inverse (`unsmashIopde`). Checks run in DESIGN.md's
 * order; the first failure returns its status with a `detail` and changes nothing.
 * Addresses in results and details are bigint: the wire shows them as hex.
 */
import type { Firmware, FirmwareEvents } from './firmware.js';
import { REGION_BYTES } from './firmware.js';
import type { FwResult } from './status.js';
import { FW_STATUS, fwFail, fwOk } from './status.js';
import { sampleStallNs } from './stall-model.js';
import type { HostMemory } from '../memory/host-memory.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import type { RmpTable } from '../rmp/rmp-table.js';
import { newRmpScratch } from '../rmp/rmp-table.js';
import type { Iommu } from '../iommu/iommu.js';
import type { DomainInfo } from '../iommu/device-table.js';
import {
  decodePte,
  encodeTablePointer,
  levelIndex,
  pteAddressField,
  pteHalves,
  stripCBit,
  withAddress,
  withAddressHi,
  withAddressLo,
  withNextLevel,
} from '../iommu/pte.js';
import type { DmaEngine } from '../dma/dma-engine.js';
import type { VirtualClock } from '../clock/virtual-clock.js';
import type { SeededRng } from '../util/rng.js';

const REGION_LG2 = 21;
const PTES_PER_TABLE = 512;

export interface SmashParams {
  domainId: number;
  iova: bigint;
  iopdeSpa: number;
  tableSpa: number;
}

export interface UnsmashParams {
  domainId: number;
  iova: bigint;
  iopdeSpa: number;
}

export interface SmashResult extends FwResult {
  stallNs?: number;
  rmpSmashed?: boolean;
  dmaHeld?: number;
  startNs?: number;
  endNs?: number;
}

export interface UnsmashResult extends FwResult {
  tableSpa?: bigint;
  stallNs?: number;
  rmpMerged?: boolean;
  dmaHeld?: number;
  startNs?: number;
  endNs?: number;
}

/** What checks 1-6 establish about the IOPDE slot. */
interface Located {
  iopde: bigint;
  boundAsid: number;
}

export class SmashEngine {
  /** Regions (domain:iova) with a smash or unsmash queued or running: check 4. */
  private readonly underWay = new Set<string>();
  /** checkRegionRmp's per-entry read, reused (RmpTable.readEntryInto). */
  private readonly rmpScratch = newRmpScratch();

  constructor(
    private readonly fw: Firmware,
    private readonly memory: HostMemory,
    private readonly rmp: RmpTable,
    private readonly iommu: Iommu,
    private readonly dma: DmaEngine,
    private readonly clock: VirtualClock,
    private readonly rng: SeededRng,
    private readonly bus: FirmwareEvents,
    private readonly cBit: number | null,
  ) {}

  smashIopde(p: SmashParams): Promise<SmashResult> {
    const key = `${p.domainId}:${p.iova}`;
    const eventParams = { domainId: p.domainId, iova: p.iova, iopdeSpa: BigInt(p.iopdeSpa), tableSpa: BigInt(p.tableSpa) };
    if (this.underWay.has(key)) return this.fw.respondNow('fw.smashIopde', eventParams, failedOr(this.early(p, true), p));
    this.underWay.add(key);
    return this.fw
      .submit('fw.smashIopde', eventParams, () => this.runSmash(p))
      .finally(() => this.underWay.delete(key));
  }

  unsmashIopde(p: UnsmashParams): Promise<UnsmashResult> {
    const key = `${p.domainId}:${p.iova}`;
    const eventParams = { domainId: p.domainId, iova: p.iova, iopdeSpa: BigInt(p.iopdeSpa) };
    if (this.underWay.has(key)) return this.fw.respondNow('fw.unsmashIopde', eventParams, failedOr(this.early(p, false), p));
    this.underWay.add(key);
    return this.fw
      .submit('fw.unsmashIopde', eventParams, () => this.runUnsmash(p))
      .finally(() => this.underWay.delete(key));
  }

  /**
   * Checks 1-3 (platform state, addresses, parameters): the failure, or the valid
   * DTEs' domains they read, which check 5 reuses (decoding the device table is a
   * scan of every backed DTE page).
   */
  private early(p: SmashParams | UnsmashParams, smash: boolean): FwResult | Domains {
    const notReady = this.fw.checkInitialised();
    if (notReady) return notReady;
    if (p.iopdeSpa % 8 !== 0 || !this.memory.contains(p.iopdeSpa, 8)) {
      return fwFail(FW_STATUS.INVALID_ADDRESS, { reason: 'iopdeSpa must be 8-byte aligned and inside memory', iopdeSpa: BigInt(p.iopdeSpa) });
    }
    const domains = this.iommu.domains();
    if (smash) {
      const { tableSpa } = p as SmashParams;
      if (tableSpa % PAGE_BYTES !== 0 || !this.memory.contains(tableSpa, PAGE_BYTES)) {
        return fwFail(FW_STATUS.INVALID_ADDRESS, { reason: 'tableSpa must be 4 KB aligned and inside memory', tableSpa: BigInt(tableSpa) });
      }
      const level = this.iommu.liveTableLevel(tableSpa / PAGE_BYTES);
      if (level !== undefined) {
        return fwFail(FW_STATUS.INVALID_ADDRESS, { reason: 'tableSpa is a live page-table page (reachable from a valid DTE root)', tableSpa: BigInt(tableSpa), level });
      }
    }
    if (!domains.has(p.domainId)) {
      return fwFail(FW_STATUS.INVALID_PARAM, { reason: `no valid DTE (V=1, TV=1) carries domain ${p.domainId}`, domainId: p.domainId });
    }
    if (p.iova % BigInt(REGION_BYTES) !== 0n) {
      return fwFail(FW_STATUS.INVALID_PARAM, { reason: 'iova must be 2 MB aligned', iova: p.iova });
    }
    return domains;
  }

  /** Check 5: descend the domain's tables to the level-2 slot for iova. */
  private locate(p: SmashParams | UnsmashParams, domains: Domains): Located | FwResult {
    const domain = domains.get(p.domainId);
    if (domain === undefined) return fwFail(FW_STATUS.INVALID_PARAM, { reason: `unknown domain ${p.domainId}`, domainId: p.domainId });
    let tableSpa = stripCBit(domain.root, this.cBit);
    let level = domain.mode;
    if (level < 2 || level > 6) {
      return fwFail(FW_STATUS.INVALID_PARAM, { reason: `domain mode ${level} has no level-2 entries`, mode: level });
    }
    if (level < 6 && p.iova >> BigInt(12 + 9 * level) !== 0n) {
      return fwFail(FW_STATUS.INVALID_PARAM, { reason: `iova is beyond the range of mode ${level}`, level });
    }
    while (level > 2) {
      const entrySpa = tableSpa + levelIndex(p.iova, level) * 8;
      const value = this.memory.word(entrySpa);
      const e = decodePte(value, level, this.cBit);
      if (!e.present) {
        return fwFail(FW_STATUS.INVALID_PARAM, { reason: `the walk faults at level ${level}: entry not present`, entrySpa: BigInt(entrySpa), level, value });
      }
      if (e.leaf) {
        return fwFail(FW_STATUS.INVALID_PAGE_SIZE, { reason: `the walk reaches a leaf at level ${level} (2^${e.sizeLg2 ?? 0} bytes), above level 2`, entrySpa: BigInt(entrySpa), level, value });
      }
      if (e.nextLevel !== level - 1 || e.table === undefined) {
        return fwFail(FW_STATUS.INVALID_PARAM, { reason: `the walk faults at level ${level}: NextLevel ${e.nextLevel}`, entrySpa: BigInt(entrySpa), level, value });
      }
      tableSpa = e.table;
      level--;
    }
    const entrySpa = tableSpa + levelIndex(p.iova, 2) * 8;
    if (entrySpa !== p.iopdeSpa) {
      return fwFail(FW_STATUS.INVALID_PARAM, { reason: 'iopdeSpa is not the level-2 entry the walk for iova reaches', entrySpa: BigInt(entrySpa), level: 2, iopdeSpa: BigInt(p.iopdeSpa) });
    }
    const domainAsids = new Set(domain.devices.map((d: number) => this.fw.boundAsid(d)).filter((a: number) => a >= 0));
    const boundAsid = domainAsids.size === 1 ? ([...domainAsids][0] as number) : -1;
    return { iopde: this.memory.word(entrySpa), boundAsid };
  }

  private async runSmash(p: SmashParams): Promise<SmashResult> {
    const early = this.early(p, true);
    if (!(early instanceof Map)) return early;
    const loc = this.locate(p, early);
    if ('status' in loc) return loc;
    const { iopde, boundAsid } = loc;
    // Check 6: a present 2 MB leaf (NextLevel 0).
    const e = decodePte(iopde, 2, this.cBit);
    if (!e.present || e.nextLevel !== 0) {
      return fwFail(FW_STATUS.INVALID_PAGE_SIZE, {
        reason: !e.present ? 'the IOPDE is not present' : e.leaf ? `the IOPDE is an NL=7 leaf of 2^${e.sizeLg2 ?? 0} bytes, not a 2 MB leaf` : 'the IOPDE is already a table pointer',
        value: iopde,
      });
    }
    // Check 7: the new table page belongs to the hypervisor.
    const owner = this.rmp.read(p.tableSpa);
    if (owner.assigned) {
      return fwFail(FW_STATUS.INVALID_PAGE_OWNER, { reason: 'the table page is not hypervisor-owned in the RMP', tableSpa: BigInt(p.tableSpa), asid: owner.asid, immutable: owner.immutable });
    }
    // Check 8: PTE i is the old IOPDE with address old + i x 4 KB, every other bit identical.
    const i8 = this.firstNotAdvanced(iopde, p.tableSpa, 0);
    if (i8 >= 0) {
      const expected = withAddress(iopde, pteAddressField(iopde) + i8 * PAGE_BYTES);
      const actual = this.memory.word(p.tableSpa + i8 * 8);
      return fwFail(FW_STATUS.INVALID_PARAM, { reason: `table entry ${i8} is not the old IOPDE with its address advanced by ${i8} x 4 KB`, index: i8, expected, actual });
    }
    // Check 9: the RMP under the region.
    const regionSpa = Math.floor((e.pa ?? 0) / REGION_BYTES) * REGION_BYTES;
    const bad = this.checkRegionRmp(regionSpa, p.iova, boundAsid);
    if (bad) return bad;

    // Effect, atomic with respect to DMA: every request in scope that arrives in
    // [startNs, endNs) is held and translated at endNs against the new tables.
    const model = this.fw.stallModel;
    const stallNs = sampleStallNs(model, this.rng);
    const startNs = this.clock.nowNs;
    const endNs = startNs + stallNs;
    const stall = this.dma.beginStall({ scope: model.scope, domainId: p.domainId, startNs, endNs, policy: model.policy, completionTimeoutNs: model.completionTimeoutNs });
    this.emitStall('begin', 'fw.smashIopde', p, startNs, endNs);
    this.memory.setWord(p.iopdeSpa, encodeTablePointer(p.tableSpa, 1));
    const region = this.rmp.read(regionSpa);
    const rmpSmashed = region.assigned && region.pageSize === '2M';
    if (rmpSmashed) this.rmp.psmash(regionSpa);
    this.iommu.iotlb.invalidateRange(p.domainId, p.iova, REGION_LG2);
    await this.clock.waitUntil(endNs);
    this.emitStall('end', 'fw.smashIopde', p, startNs, endNs);
    return fwOk({ stallNs, rmpSmashed, dmaHeld: stall.heldCount, startNs, endNs });
  }

  private async runUnsmash(p: UnsmashParams): Promise<UnsmashResult> {
    const early = this.early(p, false);
    if (!(early instanceof Map)) return early;
    const loc = this.locate(p, early);
    if ('status' in loc) return loc;
    const { iopde, boundAsid } = loc;
    const e = decodePte(iopde, 2, this.cBit);
    if (!e.present || e.leaf || e.nextLevel !== 1 || e.table === undefined) {
      return fwFail(FW_STATUS.INVALID_PAGE_SIZE, { reason: e.present && e.leaf ? 'the IOPDE is a leaf, not a table pointer' : 'the IOPDE is not a present table pointer (NextLevel 1)', value: iopde });
    }
    const tableSpa = e.table;
    // The 512 leaves: contiguous 4 KB pages from a 2 MB-aligned base, other bits identical.
    const pte0 = this.memory.word(tableSpa);
    const leaf0 = decodePte(pte0, 1, this.cBit);
    const base = pteAddressField(pte0);
    if (!leaf0.present || leaf0.nextLevel !== 0 || (leaf0.pa ?? 1) % REGION_BYTES !== 0) {
      return fwFail(FW_STATUS.INVALID_PARAM, { reason: 'PTE 0 must be a present 4 KB leaf at a 2 MB-aligned address', index: 0, actual: pte0 });
    }
    const i1 = this.firstNotAdvanced(pte0, tableSpa, 1);
    if (i1 >= 0) {
      const expected = withAddress(pte0, base + i1 * PAGE_BYTES);
      const actual = this.memory.word(tableSpa + i1 * 8);
      return fwFail(FW_STATUS.INVALID_PARAM, { reason: `PTE ${i1} is not PTE 0 advanced by ${i1} x 4 KB with identical other bits`, index: i1, expected, actual });
    }
    const regionSpa = leaf0.pa ?? 0;
    const bad = this.checkRegionRmp(regionSpa, p.iova, boundAsid);
    if (bad) return bad;
    const region = this.rmp.read(regionSpa);
    // DESIGN.md: the RMP entry becomes 2 MB again, so 512 4 KB entries must merge by
    // PAGE_UNSMASH rules (all-hypervisor ones too, into an unassigned 2 MB entry); a
    // region still 2 MB in the RMP needs no change.
    const rmpMerged = region.pageSize === '4K';
    if (rmpMerged) {
      const can = this.rmp.canPageUnsmash(regionSpa);
      if (!can.ok) return fwFail(FW_STATUS.INVALID_PAGE_STATE, { reason: `the RMP cannot be merged: ${can.detail}`, ...(can.index !== undefined ? { index: can.index } : {}) });
    }

    const model = this.fw.stallModel;
    const stallNs = sampleStallNs(model, this.rng);
    const startNs = this.clock.nowNs;
    const endNs = startNs + stallNs;
    const stall = this.dma.beginStall({ scope: model.scope, domainId: p.domainId, startNs, endNs, policy: model.policy, completionTimeoutNs: model.completionTimeoutNs });
    this.emitStall('begin', 'fw.unsmashIopde', p, startNs, endNs);
    // The 2 MB leaf is PTE 0 with NextLevel 0: same permission and FC bits.
    this.memory.setWord(p.iopdeSpa, withNextLevel(pte0, 0));
    if (rmpMerged) this.rmp.pageUnsmash(regionSpa);
    this.iommu.iotlb.invalidateRange(p.domainId, p.iova, REGION_LG2);
    await this.clock.waitUntil(endNs);
    this.emitStall('end', 'fw.unsmashIopde', p, startNs, endNs);
    return fwOk({ tableSpa: BigInt(tableSpa), stallNs, rmpMerged, dmaHeld: stall.heldCount, startNs, endNs });
  }

  /**
   * Check 9: the RMP under the region is one 2 MB entry or 512 4 KB entries, each
   * hypervisor-owned or assigned to the domain's bound ASID at GPA = iova (+ i x 4 KB).
   */
  private checkRegionRmp(regionSpa: number, iova: bigint, boundAsid: number): FwResult | null {
    const gpaBase = Number(iova);
    const first = this.rmp.read(regionSpa);
    const fail = (index: number, why: string, entry: { assigned: boolean; asid: number; gpa: number; pageSize: string }): FwResult =>
      fwFail(FW_STATUS.INVALID_PAGE_STATE, {
        reason: why,
        regionSpa: BigInt(regionSpa),
        index,
        entry: { assigned: entry.assigned, pageSize: entry.pageSize, asid: entry.asid, gpa: BigInt(entry.gpa) },
        boundAsid,
      });
    if (first.pageSize === '2M') {
      if (!first.assigned) return null;
      if (boundAsid < 0) return fail(0, 'the region is assigned in the RMP but no device of the domain is bound to a guest', first);
      if (first.asid !== boundAsid) return fail(0, `the 2 MB RMP entry belongs to ASID ${first.asid}, not the domain's bound ASID ${boundAsid}`, first);
      if (first.gpa !== gpaBase) return fail(0, 'the 2 MB RMP entry GPA differs from iova', first);
      return null;
    }
    // 512 entries on every unsmash: read into a scratch record (rmp.read builds an
    // object and a bigint raw word per entry); the failure detail is built once.
    const e = this.rmpScratch;
    const at = (): { assigned: boolean; asid: number; gpa: number; pageSize: string } => ({
      assigned: e.assigned,
      asid: e.asid,
      gpa: e.gpaPfn * PAGE_BYTES,
      pageSize: e.pageSizeLg2 === 21 ? '2M' : '4K',
    });
    for (let i = 0; i < PTES_PER_TABLE; i++) {
      const spa = regionSpa + i * PAGE_BYTES;
      // Past the end of memory rmp.read throws (misuse), as this check always has.
      if (spa >= this.rmp.sizeBytes) this.rmp.read(spa);
      this.rmp.readEntryInto(spa / PAGE_BYTES, e);
      if (e.pageSizeLg2 !== 12) return fail(i, 'the RMP region mixes entry sizes', at());
      if (!e.assigned) continue;
      if (boundAsid < 0) return fail(i, 'a 4 KB page of the region is assigned but no device of the domain is bound to a guest', at());
      if (e.asid !== boundAsid) return fail(i, `4 KB entry ${i} belongs to ASID ${e.asid}, not the bound ASID ${boundAsid}`, at());
      if (e.gpaPfn * PAGE_BYTES !== gpaBase + i * PAGE_BYTES) return fail(i, `4 KB entry ${i} GPA differs from iova + ${i} x 4 KB`, at());
    }
    return null;
  }

  /**
   * The first i in [from, 512) whose word at tableSpa + i x 8 is not
   * withAddress(entry, address field + i x 4 KB), or -1. Compares 32-bit halves: the
   * expected table is built on every smash and unsmash, and a bigint per PTE
   * allocates (DESIGN.md "Notes for a fast implementation").
   */
  private firstNotAdvanced(entry: bigint, tableSpa: number, from: number): number {
    const { lo, hi } = pteHalves(entry);
    const base = pteAddressField(entry);
    // tableSpa is 4 KB aligned (check 2; a table pointer's address): one page, one view.
    const view = this.memory.pageHalves(tableSpa / PAGE_BYTES);
    for (let i = from; i < PTES_PER_TABLE; i++) {
      const spa = base + i * PAGE_BYTES;
      const actualLo = view === undefined ? 0 : (view[2 * i] as number);
      const actualHi = view === undefined ? 0 : (view[2 * i + 1] as number);
      if (actualLo !== withAddressLo(lo, spa) || actualHi !== withAddressHi(hi, spa)) return i;
    }
    return -1;
  }


  private emitStall(phase: 'begin' | 'end', command: string, p: SmashParams | UnsmashParams, startNs: number, endNs: number): void {
    if (!this.bus.has('stall')) return;
    const model = this.fw.stallModel;
    this.bus.emit('stall', phase === 'begin' ? startNs : endNs, {
      phase,
      command,
      domainId: p.domainId,
      iova: p.iova,
      scope: model.scope,
      policy: model.policy,
      startNs,
      endNs,
    });
  }
}

type Domains = Map<number, DomainInfo>;

/** A call for a region already under way: the early checks' failure, else IN_USE. */
function failedOr(early: FwResult | Domains, p: SmashParams | UnsmashParams): FwResult {
  return early instanceof Map ? inUse(p) : early;
}

function inUse(p: SmashParams | UnsmashParams): FwResult {
  return fwFail(FW_STATUS.IN_USE, { reason: `a smash or unsmash of domain ${p.domainId} iova 0x${p.iova.toString(16)} is under way`, domainId: p.domainId, iova: p.iova });
}

