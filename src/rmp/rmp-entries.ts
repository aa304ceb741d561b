/**
 * The RMP table's state: its entries in the compact storage of rmp-storage.ts, read
 * one page at a time (readEntryInto, on the DMA hot path: numbers only, no
 * allocation) and written a 2 MB region or a 4 KB page at a time. The instructions
 * (rmp-table.ts) and the region scans (rmp-scans.ts) build on it. Invariants:
 * - a 2 MB region flag byte is F_LARGE|..., 0 (512 unassigned 4 KB entries) or F_DETAIL;
 * - a detail record exists iff F_DETAIL, and then holds at least one assigned entry;
 * - an unassigned 4 KB entry is all zero (RMPUPDATE makes it so; hardware.md §1.5).
 * Hence the default region (flag 0) and default chunk (absent) cost nothing.
 */
import { invalidArgument } from '../util/emu-error.js';
import type { RmpEntryScratch } from './rmp-entry.js';
import {
  type Chunk,
  type Detail,
  F_ASSIGNED,
  F_ASSIGNED_LARGE,
  F_DETAIL,
  F_IMMUTABLE,
  F_LARGE,
  F_VALIDATED,
  F_VMSA,
  MAX_SPARE_DETAILS,
  PAGE_BYTES,
  REGION_PAGES,
  UNKNOWN,
  newChunk,
  newDetail,
  regionHasAssigned,
} from './rmp-storage.js';

function fillFlags(out: RmpEntryScratch, f: number): void {
  out.assigned = (f & F_ASSIGNED) !== 0;
  out.immutable = (f & F_IMMUTABLE) !== 0;
  out.validated = (f & F_VALIDATED) !== 0;
  out.vmsa = (f & F_VMSA) !== 0;
}

export class RmpEntries {
  /**
   * Hypervisor-Fixed 4 KB pages (Assigned 0, Immutable 1; hardware.md §1.2): few
   * (the TMPM ring, firmware pages), kept beside the compact layout, whose detail
   * records hold assigned entries only.
   */
  protected fixedPfns = new Set<number>();
  /** The 2 MB regions holding a page of `fixedPfns` (an index: RMPUPDATE 2M and canPageUnsmash ask per region). */
  protected fixedRegions = new Set<number>();
  readonly sizeBytes: number;
  readonly pageCount: number;
  protected chunks: (Chunk | undefined)[] = [];
  protected assignedPages = 0;
  /** Dropped detail records, reused (never shared: clone copies its own). */
  protected readonly spareDetails: Detail[] = [];

  constructor(sizeBytes: number) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % PAGE_BYTES !== 0) {
      throw invalidArgument(`RMP memory size must be a positive multiple of 4 KB, got ${sizeBytes}`);
    }
    this.sizeBytes = sizeBytes;
    this.pageCount = sizeBytes / PAGE_BYTES;
  }

  readEntryInto(pfn: number, out: RmpEntryScratch): RmpEntryScratch {
    const low = pfn & 511;
    const region = (pfn - low) / REGION_PAGES;
    const chunk = pfn >= 0 && pfn < this.pageCount ? this.chunks[region >>> 9] : undefined;
    const i = region & 511;
    const f = chunk === undefined ? 0 : (chunk.flags[i] as number);
    if ((f & F_LARGE) !== 0) {
      const c = chunk as Chunk;
      out.entryPfn = pfn - low;
      out.pageSizeLg2 = 21;
      fillFlags(out, f);
      out.asid = c.asid[i] as number;
      out.gpaPfn = c.gpaPfn[i] as number;
      out.pageGpaPfn = out.assigned ? out.gpaPfn + low : 0;
      return out;
    }
    out.entryPfn = pfn;
    out.pageSizeLg2 = 12;
    const d = (f & F_DETAIL) !== 0 ? (chunk as Chunk).detail[i] : undefined;
    if (d === undefined || ((d.flags[low] as number) & F_ASSIGNED) === 0) {
      fillFlags(out, this.fixedPfns.size !== 0 && this.fixedPfns.has(pfn) ? F_IMMUTABLE : 0);
      out.asid = 0;
      out.gpaPfn = 0;
    } else {
      fillFlags(out, d.flags[low] as number);
      out.asid = d.asid[low] as number;
      out.gpaPfn = d.gpaPfn[low] as number;
    }
    out.pageGpaPfn = out.gpaPfn;
    return out;
  }

  /** True when region `region` (2 MB index) holds a Hypervisor-Fixed 4 KB page. */
  protected hasFixedIn(region: number): boolean {
    return this.fixedRegions.size !== 0 && this.fixedRegions.has(region);
  }

  protected regionFlags(region: number): number {
    const chunk = this.chunks[region >>> 9];
    return chunk === undefined ? 0 : (chunk.flags[region & 511] as number);
  }

  /** A region's 4 KB entries when it is not a 2 MB entry and holds an assigned one. */
  protected detailOf(region: number): Detail | undefined {
    return this.chunks[region >>> 9]?.detail[region & 511];
  }

  /** Flags of a page's own 4 KB entry (0 when the region has no detail). */
  protected pageFlags(pfn: number): number {
    const region = (pfn - (pfn & 511)) / REGION_PAGES;
    const d = this.chunks[region >>> 9]?.detail[region & 511];
    return d === undefined ? 0 : (d.flags[pfn & 511] as number);
  }

  /** Makes a region one 2 MB entry (flags with F_LARGE), or the default (flags 0); drops any detail. */
  protected setRegion(region: number, flags: number, asid: number, gpaPfn: number): void {
    let chunk = this.chunks[region >>> 9];
    if (chunk === undefined) {
      if (flags === 0) return;
      chunk = newChunk();
      this.chunks[region >>> 9] = chunk;
    }
    const i = region & 511;
    const old = chunk.flags[i] as number;
    const oldPages = (old & F_ASSIGNED_LARGE) === F_ASSIGNED_LARGE ? REGION_PAGES : (chunk.detail[i]?.assigned ?? 0);
    this.assignedPages += ((flags & F_ASSIGNED) !== 0 ? REGION_PAGES : 0) - oldPages;
    chunk.assignedRegions += (regionHasAssigned(flags) ? 1 : 0) - (regionHasAssigned(old) ? 1 : 0);
    chunk.flags[i] = flags;
    chunk.asid[i] = asid;
    chunk.gpaPfn[i] = gpaPfn;
    this.dropDetail(chunk, i);
  }

  /**
   * A detail record for a region about to hold 4 KB entries (contents arbitrary):
   * a dropped one when there is one. A smash and its unsmash split and merge the
   * same region again and again; 7 KB of typed arrays each time is garbage.
   */
  protected takeDetail(): Detail {
    return this.spareDetails.pop() ?? newDetail();
  }

  protected dropDetail(chunk: Chunk, i: number): void {
    const d = chunk.detail[i];
    if (d === undefined) return;
    chunk.detail[i] = undefined;
    d.assigned = 0;
    d.uniform = UNKNOWN;
    if (this.spareDetails.length < MAX_SPARE_DETAILS) this.spareDetails.push(d);
  }

  /** Writes one 4 KB entry of a region that is not a 2 MB entry; an unassigned entry is stored all zero. */
  protected setPage(pfn: number, flags: number, asid: number, gpaPfn: number): void {
    const assigned = (flags & F_ASSIGNED) !== 0;
    const low = pfn & 511;
    const region = (pfn - low) / REGION_PAGES;
    const i = region & 511;
    let chunk = this.chunks[region >>> 9];
    let d = chunk?.detail[i];
    if (d === undefined) {
      if (!assigned) return;
      if (chunk === undefined) {
        chunk = newChunk();
        this.chunks[region >>> 9] = chunk;
      }
      d = this.takeDetail();
      d.flags.fill(0);
      d.asid.fill(0);
      d.gpaPfn.fill(0);
      chunk.detail[i] = d;
      chunk.flags[i] = F_DETAIL;
      chunk.assignedRegions++;
    }
    const was = ((d.flags[low] as number) & F_ASSIGNED) !== 0;
    d.flags[low] = assigned ? flags : 0;
    d.uniform = UNKNOWN;
    d.asid[low] = assigned ? asid : 0;
    d.gpaPfn[low] = assigned ? gpaPfn : 0;
    if (was !== assigned) {
      d.assigned += assigned ? 1 : -1;
      this.assignedPages += assigned ? 1 : -1;
    }
    if (d.assigned === 0) {
      const c = chunk as Chunk;
      this.dropDetail(c, i);
      c.flags[i] = 0;
      c.assignedRegions--;
    }
  }
}
