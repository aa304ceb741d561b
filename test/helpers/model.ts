/**
 * A small reference model of the part of the platform the reliability suite's
 * model-based tests drive (issue 6 item 1): the first REGIONS 2 MB regions of guest
 * ASID 1 behind TEE-IO device 0x0100 (domain 1), and the first UNTRUSTED_PAGES 4 KB
 * pages of untrusted device 0x0200 (domain 2). It predicts every call's outcome
 * (firmware status, RMP return code, DMA outcome) and the audit's violation kinds,
 * from protocol/README.md alone: it does not look at the implementation.
 *
 * Pages of a region are 'hv' (hypervisor-owned), 'ok' (assigned to ASID 1 at
 * GPA = IOVA, the only consistent assignment) or 'foreign' (assigned to ASID 1 at
 * GPA + 1 GiB: every TEE-IO DMA to it faults, and 4 KB entries mixing 'ok' and
 * 'foreign' GPAs break PSMASH_IO check 9: not consecutive).
 */
import type { Scenario } from '../../src/platform/scenario.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
// Codes from the spec as the tests read it (hardware.md §1.4-§1.6, §2.3), not src/'s tables.
import { SPEC_FW_STATUS as FW_STATUS, SPEC_RMP_RC as RMP_RC } from './spec.js';

/** TMPM statuses (hardware.md §2.4, protocol/README.md §4.3.5; test/vectors/tmpm.json). */
export const TMPM = { INVALID_PLATFORM_STATE: 0x01, INVALID_PAGE_STATE: 0x05, INVALID_PAGE_SIZE: 0x06, INVALID_HPTE_PADDR: 0x0a, ADDRESSES_MISMATCH: 0x15, SUCCESS: 0xf0 } as const;

export const TEE_DEV = 0x0100;
export const TEE_DOMAIN = 1;
export const UNTRUSTED_DEV = 0x0200;
export const UNTRUSTED_DOMAIN = 2;
export const GUEST_SPA = 0x1_0000_0000;
export const UNTRUSTED_SPA = 0x8000_0000;
export const REGIONS = 4;
export const UNTRUSTED_PAGES = 4;
export const MB2 = 2 * 1024 * 1024;
export const K4 = 4096;
/** GPA offset of a 'foreign' assignment. */
export const FOREIGN_GPA_OFFSET = 2 ** 30;
/** Page indices inside a region the tests touch (first, second, middle, last). */
export const PAGE_CHOICES = [0, 1, 255, 511] as const;

/**
 * The default scenario with the untrusted mapping cut to 64 KiB, so a state dump is
 * small enough to compare after every step.
 */
export const MODEL_SCENARIO: Scenario = {
  ...DEFAULT_SCENARIO,
  name: 'reliability-model',
  devices: DEFAULT_SCENARIO.devices.map((d) => (d.deviceId === UNTRUSTED_DEV ? { ...d, mappings: d.mappings.map((m) => ({ ...m, length: 16 * K4 })) } : d)),
};

export type PageState = 'hv' | 'ok' | 'foreign';
export interface ModelPage {
  s: PageState;
  v: boolean;
}
export interface ModelRegion {
  /** The IOMMU leaf shape of the region: one 2 MB leaf, or a table of 4 KB leaves. */
  leaf: '2M' | '4K';
  /** One 2 MB RMP entry (all pages equal) or 512 4 KB entries. */
  large: boolean;
  pages: ModelPage[];
}

export type SmashCorruption = 'none' | 'misalignedTable' | 'wrongIopde' | 'ownedTable' | 'badPte';

export type Expected = { status: number } | { rc: number; noUpdate?: true } | { npf: string } | { outcome: string };

export class PlatformModel {
  fwInit = true;
  /**
   * Device 0x0100 is a bound TEE-IO function; fw.shutdown disconnects it with FORCE
   * (unbinding its TDI), so it is untrusted until the harness connects and binds it
   * again after fw.init.
   */
  bound = true;
  readonly regions: ModelRegion[] = [];
  readonly mapped: boolean[] = Array.from({ length: UNTRUSTED_PAGES }, () => true);
  readonly cached: boolean[] = Array.from({ length: UNTRUSTED_PAGES }, () => false);

  constructor() {
    for (let r = 0; r < REGIONS; r++) this.regions.push({ leaf: '2M', large: true, pages: Array.from({ length: 512 }, () => ({ s: 'ok' as PageState, v: true })) });
  }

  private region(r: number): ModelRegion {
    return this.regions[r] as ModelRegion;
  }

  private page(r: number, k: number): ModelPage {
    return this.region(r).pages[k] as ModelPage;
  }

  private setAll(r: number, p: ModelPage): void {
    const reg = this.region(r);
    for (let k = 0; k < 512; k++) reg.pages[k] = { ...p };
  }

  private anyAssigned(r: number): boolean {
    return this.region(r).pages.some((p) => p.s !== 'hv');
  }

  rmpUpdate(r: number, k: number, size: '4K' | '2M', target: PageState): Expected {
    const reg = this.region(r);
    if (size === '4K') {
      if (reg.large && this.anyAssigned(r)) return { rc: RMP_RC.FAIL_OVERLAP };
      if (reg.large) {
        reg.large = false;
        this.setAll(r, { s: 'hv', v: false });
      }
      reg.pages[k] = { s: target, v: false };
      return { rc: RMP_RC.SUCCESS };
    }
    if (!reg.large && this.anyAssigned(r)) return { rc: RMP_RC.FAIL_OVERLAP };
    reg.large = true;
    this.setAll(r, { s: target, v: false });
    return { rc: RMP_RC.SUCCESS };
  }

  psmash(r: number): Expected {
    const reg = this.region(r);
    if (!reg.large || !this.anyAssigned(r)) return { rc: RMP_RC.FAIL_BADADDR };
    reg.large = false;
    return { rc: RMP_RC.SUCCESS };
  }

  pvalidate(r: number, k: number, size: '4K' | '2M', validate: boolean): Expected {
    const reg = this.region(r);
    const page = this.page(r, size === '2M' ? 0 : k);
    if (page.s !== 'ok') return { npf: '0x80000000' };
    if (size === '2M' && !reg.large) return { rc: RMP_RC.FAIL_SIZEMISMATCH };
    if (size === '4K' && reg.large) return { npf: '0x880000000' };
    if (page.v === validate) return { rc: RMP_RC.SUCCESS, noUpdate: true };
    if (reg.large) for (const p of reg.pages) p.v = validate;
    else page.v = validate;
    return { rc: RMP_RC.SUCCESS };
  }

  pageUnsmash(r: number): Expected {
    const reg = this.region(r);
    if (!this.fwInit) return { status: FW_STATUS.INVALID_PLATFORM_STATE };
    if (reg.large) return { status: FW_STATUS.INVALID_PAGE_SIZE };
    if (!this.mergeable(r)) return { status: FW_STATUS.INVALID_PAGE_STATE };
    reg.large = true;
    return { status: FW_STATUS.SUCCESS };
  }

  private mergeable(r: number): boolean {
    const pages = this.region(r).pages;
    const p0 = pages[0] as ModelPage;
    return pages.every((p) => p.s === p0.s && p.v === p0.v);
  }

  /**
   * PSMASH_IO check 9 with one guest: a 2 MB entry always passes (only its ASID is
   * checked); 4 KB entries fail when the assigned ones are not at consecutive GPAs,
   * that is when 'ok' and 'foreign' pages mix.
   */
  private rmpCheck9Fails(r: number): boolean {
    const reg = this.region(r);
    return !reg.large && reg.pages.some((p) => p.s === 'foreign') && reg.pages.some((p) => p.s === 'ok');
  }

  /** The leaf shape of the entry after region r's (r + 1; past the model, a 2 MB leaf of the default scenario). */
  private nextLeaf(r: number): '2M' | '4K' {
    return r + 1 < REGIONS ? this.region(r + 1).leaf : '2M';
  }

  /** PSMASH_IO of region r with the command page corrupted as `c`, checks in protocol/README.md §4.3.5's order. */
  smash(r: number, c: SmashCorruption): Expected {
    const reg = this.region(r);
    if (!this.fwInit) return { status: TMPM.INVALID_PLATFORM_STATE };
    if (c === 'misalignedTable' || c === 'ownedTable') return { status: TMPM.INVALID_HPTE_PADDR };
    if (c === 'wrongIopde') return { status: this.nextLeaf(r) === '2M' ? TMPM.ADDRESSES_MISMATCH : TMPM.INVALID_PAGE_SIZE };
    if (reg.leaf !== '2M') return { status: TMPM.INVALID_PAGE_SIZE };
    if (this.rmpCheck9Fails(r)) return { status: TMPM.INVALID_PAGE_STATE };
    if (c === 'badPte') return { status: TMPM.INVALID_HPTE_PADDR };
    reg.leaf = '4K';
    if (reg.large && this.anyAssigned(r)) reg.large = false;
    return { status: TMPM.SUCCESS };
  }

  /** PUNSMASH_IO of region r (wrongIopde: the entry of region r + 1): checks 1-4, 6, 9, then the table and the merge. */
  unsmash(r: number, wrongIopde: boolean): Expected {
    const reg = this.region(r);
    if (!this.fwInit) return { status: TMPM.INVALID_PLATFORM_STATE };
    if (this.rmpCheck9Fails(r)) return { status: TMPM.INVALID_PAGE_STATE };
    if (wrongIopde) return { status: this.nextLeaf(r) === '2M' ? TMPM.INVALID_PAGE_SIZE : TMPM.INVALID_HPTE_PADDR };
    if (reg.leaf !== '4K') return { status: TMPM.INVALID_PAGE_SIZE };
    const merge = !reg.large && this.anyAssigned(r);
    if (merge && !this.mergeable(r)) return { status: TMPM.INVALID_PAGE_STATE };
    reg.leaf = '2M';
    if (merge) reg.large = true;
    return { status: TMPM.SUCCESS };
  }

  teeDma(r: number, k: number): Expected {
    const reg = this.region(r);
    const p = this.page(r, k);
    if (!this.bound) {
      // Untrusted: the page must not be assigned, and a 2 MB leaf over any assigned page fails.
      const blocked = reg.leaf === '2M' ? reg.pages.some((q) => q.s !== 'hv') : p.s !== 'hv';
      return { outcome: blocked ? 'rmp_fault' : 'ok' };
    }
    const ok = p.s === 'ok' && p.v && (reg.leaf === '2M') === reg.large;
    return { outcome: ok ? 'ok' : 'rmp_fault' };
  }

  untrustedDma(j: number): Expected {
    if (this.cached[j]) return { outcome: 'ok' };
    if (!this.mapped[j]) return { outcome: 'io_page_fault' };
    this.cached[j] = true;
    return { outcome: 'ok' };
  }

  /** iommu.unmap of one page: the bytes it reports unmapped. */
  unmap(j: number): number {
    const was = this.mapped[j] as boolean;
    this.mapped[j] = false;
    return was ? K4 : 0;
  }

  /** iommu.map of one page: false when it is already mapped (an invalid-argument error). */
  map(j: number): boolean {
    if (this.mapped[j]) return false;
    this.mapped[j] = true;
    return true;
  }

  /** INVALIDATE_IOMMU_PAGES for domain 2: one page, or the whole domain. */
  invalidate(j: number | 'all'): void {
    for (let i = 0; i < UNTRUSTED_PAGES; i++) if (j === 'all' || i === j) this.cached[i] = false;
  }

  toggleFirmware(): void {
    this.fwInit = !this.fwInit;
    this.bound = this.fwInit;
  }

  /** The violation kinds emu.audit must report, sorted. */
  auditKinds(): string[] {
    const kinds = new Set<string>();
    for (const reg of this.regions) {
      const rmpLarge = reg.large;
      if (!this.bound) {
        if (reg.leaf === '2M' && reg.pages.some((p) => p.s !== 'hv')) kinds.add('untrusted-large-leaf');
      } else if (reg.pages.some((p) => p.s !== 'hv') && (reg.leaf === '2M') !== rmpLarge) kinds.add('leaf-size-mismatch');
    }
    for (let j = 0; j < UNTRUSTED_PAGES; j++) if (this.cached[j] && !this.mapped[j]) kinds.add('stale-iotlb');
    return [...kinds].sort();
  }

  /** What rmp.read must say for page k of region r. */
  rmpEntry(r: number, k: number): { assigned: boolean; pageSize: '4K' | '2M'; validated: boolean; asid: number; gpa: bigint } {
    const reg = this.region(r);
    const p = this.page(r, reg.large ? 0 : k);
    const assigned = p.s !== 'hv';
    const baseGpa = r * MB2 + (reg.large ? 0 : k * K4);
    const gpa = !assigned ? 0 : p.s === 'ok' ? baseGpa : baseGpa + FOREIGN_GPA_OFFSET;
    return { assigned, pageSize: reg.large ? '2M' : '4K', validated: assigned && p.v, asid: assigned ? 1 : 0, gpa: BigInt(gpa) };
  }

  /** True when DMA by the TEE-IO device to every modelled page completes. */
  teeConsistent(): boolean {
    return this.regions.every((reg) => (reg.leaf === '2M') === reg.large && reg.pages.every((p) => p.s === 'ok' && p.v));
  }
}
