/**
 * The IOTLB: leaf translations cached per (domain, 4 KB IOVA page) (DESIGN.md
 * "IOMMU"). It changes only through invalidation commands, `iommu.setDte` and the
 * firmware, so a host that edits tables without invalidating keeps stale entries,
 * as on hardware. Everything is plain numbers so `lookup` allocates nothing.
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';

export interface IotlbEntry {
  domainId: number;
  /** The cached 4 KB IOVA page. */
  iovaPfn: number;
  /** The leaf the translation came from: IOVA base page, size, SPA base page. */
  leafIovaBasePfn: number;
  leafSizeLg2: number;
  leafSpaBasePfn: number;
  read: boolean;
  write: boolean;
  /** Levels the filling walk read (kept for audit and statistics). */
  levelsRead: number;
}

export interface IotlbState {
  entries: IotlbEntry[];
}

/** SPA page of a cached IOVA page. */
export function iotlbSpaPfn(e: IotlbEntry): number {
  return e.leafSpaBasePfn + (e.iovaPfn - e.leafIovaBasePfn);
}

interface DomainCache {
  pages: Map<number, IotlbEntry>;
  /** Largest leaf cached since the domain was last emptied, in 4 KB pages. */
  maxLeafPages: number;
}

export class Iotlb {
  private readonly domains = new Map<number, DomainCache>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  lookup(domainId: number, iovaPfn: number): IotlbEntry | undefined {
    const d = this.domains.get(domainId);
    return d === undefined ? undefined : d.pages.get(iovaPfn);
  }

  insert(entry: IotlbEntry): void {
    let d = this.domains.get(entry.domainId);
    if (d === undefined) {
      d = { pages: new Map(), maxLeafPages: 1 };
      this.domains.set(entry.domainId, d);
    }
    const before = d.pages.size;
    d.pages.set(entry.iovaPfn, entry);
    this.count += d.pages.size - before;
    const leafPages = 2 ** (entry.leafSizeLg2 - 12);
    if (leafPages > d.maxLeafPages) d.maxLeafPages = leafPages;
  }

  /**
   * Drops every cached entry of the domain whose leaf overlaps
   * [iovaBase, iovaBase + 2^sizeLg2) (DESIGN.md "Commands"); returns how many.
   * Scans whichever is smaller: the domain's entries, or the pages that could
   * hold an entry of an overlapping leaf (the range widened by the largest leaf).
   */
  invalidateRange(domainId: number, iovaBase: bigint, sizeLg2: number): number {
    const d = this.domains.get(domainId);
    if (d === undefined) return 0;
    if (sizeLg2 >= 64) return this.invalidateDomain(domainId);
    if (!Number.isInteger(sizeLg2) || sizeLg2 < 12) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `invalidation size must be at least 2^12 bytes, got 2^${sizeLg2}`);
    }
    const pages = 2 ** (sizeLg2 - 12);
    const firstPfn = Number((iovaBase >> 12n) / BigInt(pages)) * pages;
    const endPfn = firstPfn + pages;
    const overlaps = (e: IotlbEntry): boolean =>
      e.leafIovaBasePfn < endPfn && e.leafIovaBasePfn + 2 ** (e.leafSizeLg2 - 12) > firstPfn;
    let dropped = 0;
    const scanFrom = Math.max(0, firstPfn - d.maxLeafPages + 1);
    const scanTo = endPfn + d.maxLeafPages - 1;
    if (scanTo - scanFrom < d.pages.size) {
      for (let pfn = scanFrom; pfn < scanTo; pfn++) {
        const e = d.pages.get(pfn);
        if (e !== undefined && overlaps(e)) {
          d.pages.delete(pfn);
          dropped++;
        }
      }
    } else {
      for (const [pfn, e] of d.pages) {
        if (overlaps(e)) {
          d.pages.delete(pfn);
          dropped++;
        }
      }
    }
    this.count -= dropped;
    if (d.pages.size === 0) this.domains.delete(domainId);
    return dropped;
  }

  invalidateDomain(domainId: number): number {
    const d = this.domains.get(domainId);
    if (d === undefined) return 0;
    const dropped = d.pages.size;
    this.domains.delete(domainId);
    this.count -= dropped;
    return dropped;
  }

  invalidateAll(): number {
    const dropped = this.count;
    this.domains.clear();
    this.count = 0;
    return dropped;
  }

  /** Every cached entry, ordered by domain then IOVA page (audit, state dumps). */
  entries(): IotlbEntry[] {
    const out: IotlbEntry[] = [];
    const ids = [...this.domains.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const pages = (this.domains.get(id) as DomainCache).pages;
      const pfns = [...pages.keys()].sort((a, b) => a - b);
      for (const pfn of pfns) out.push({ ...(pages.get(pfn) as IotlbEntry) });
    }
    return out;
  }

  /** JSON-safe and exact; stale entries are kept as they are. */
  getState(): IotlbState {
    return { entries: this.entries() };
  }

  setState(state: IotlbState): void {
    this.invalidateAll();
    for (const e of state.entries) this.insert({ ...e });
  }
}
