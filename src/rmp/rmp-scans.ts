/**
 * Questions over whole 2 MB regions and page ranges of the RMP, asked on every
 * smash (PSMASH_IO check 9), every DMA RMP check and every audit: numbers only, no
 * entry decoded, O(1) per 2 MB region where the storage allows.
 */
import { RmpEntries } from './rmp-entries.js';
import { CHUNK_PAGES, CHUNK_REGIONS, type Detail, F_ASSIGNED, F_DETAIL, F_IMMUTABLE, F_LARGE, REGION_PAGES, isUniform } from './rmp-storage.js';

export class RmpScans extends RmpEntries {
  /**
   * PSMASH_IO check 9, first scan, over the storage of region `region` (spa / 2 MB)
   * when it holds 4 KB entries: the index of the first entry assigned to an ASID
   * other than `asid`, or -1. No entry is decoded: every smash runs it over 512.
   */
  firstForeignAssigned(region: number, asid: number): number {
    const d = this.detailOf(region);
    if (d === undefined) return -1;
    if (isUniform(d)) return d.asid[0] === asid ? -1 : 0;
    for (let k = 0; k < REGION_PAGES; k++) if (((d.flags[k] as number) & F_ASSIGNED) !== 0 && d.asid[k] !== asid) return k;
    return -1;
  }

  /**
   * PSMASH_IO check 9, second scan: the index of the first 4 KB entry of region
   * `region` that is immutable (a Hypervisor-Fixed page included), or assigned at a
   * GPA not consecutive with the first assigned entry's (gpa_k - k x 4 KB differs), or -1.
   */
  firstBrokenRun(region: number): number {
    const d = this.detailOf(region);
    const fixed = this.hasFixedIn(region);
    if (d === undefined && !fixed) return -1;
    // Uniform: all 512 assigned (so none Hypervisor-Fixed), GPAs consecutive.
    if (d !== undefined && isUniform(d)) return ((d.flags[0] as number) & F_IMMUTABLE) !== 0 ? 0 : -1;
    let base = 0;
    let seen = false;
    for (let k = 0; k < REGION_PAGES; k++) {
      const f = d === undefined ? 0 : (d.flags[k] as number);
      if ((f & F_ASSIGNED) === 0) {
        if (fixed && this.fixedPfns.has(region * REGION_PAGES + k)) return k;
        continue;
      }
      if ((f & F_IMMUTABLE) !== 0) return k;
      const b = ((d as Detail).gpaPfn[k] as number) - k;
      if (!seen) {
        base = b;
        seen = true;
      } else if (b !== base) return k;
    }
    return -1;
  }

  isAssigned(pfn: number): boolean {
    if (!(pfn >= 0 && pfn < this.pageCount)) return false;
    const low = pfn & 511;
    const region = (pfn - low) / REGION_PAGES;
    const chunk = this.chunks[region >>> 9];
    if (chunk === undefined) return false;
    const f = chunk.flags[region & 511] as number;
    if ((f & F_LARGE) !== 0) return (f & F_ASSIGNED) !== 0;
    if ((f & F_DETAIL) === 0) return false;
    return (((chunk.detail[region & 511] as Detail).flags[low] as number) & F_ASSIGNED) !== 0;
  }

  /** log2 of the authoritative entry's size: 21 inside a 2 MB entry, else 12. */
  authoritativePageSizeLg2(pfn: number): number {
    if (!(pfn >= 0 && pfn < this.pageCount)) return 12;
    const region = (pfn - (pfn & 511)) / REGION_PAGES;
    const chunk = this.chunks[region >>> 9];
    return chunk !== undefined && ((chunk.flags[region & 511] as number) & F_LARGE) !== 0 ? 21 : 12;
  }

  /** Whether any page of [firstPfn, firstPfn + pages) is assigned; O(1) per 2 MB region, per absent or clean GiB. */
  anyAssignedIn(firstPfn: number, pages: number): boolean {
    let pfn = Math.max(0, firstPfn);
    const end = Math.min(this.pageCount, firstPfn + pages);
    while (pfn < end) {
      const low = pfn & 511;
      const region = (pfn - low) / REGION_PAGES;
      const chunk = this.chunks[region >>> 9];
      if (chunk === undefined || chunk.assignedRegions === 0) {
        pfn = ((region >>> 9) + 1) * CHUNK_PAGES;
        continue;
      }
      const regionEnd = Math.min(end, pfn - low + REGION_PAGES);
      const f = chunk.flags[region & 511] as number;
      if ((f & F_LARGE) !== 0) {
        if ((f & F_ASSIGNED) !== 0) return true;
      } else if ((f & F_DETAIL) !== 0) {
        const d = chunk.detail[region & 511] as Detail;
        if (low === 0 && regionEnd - pfn === REGION_PAGES) return true; // a detail record holds an assigned entry
        for (let k = low; k < low + regionEnd - pfn; k++) if (((d.flags[k] as number) & F_ASSIGNED) !== 0) return true;
      }
      pfn = regionEnd;
    }
    return false;
  }

  /** Indices (spa / 2 MB) of the regions that are not 512 unassigned 4 KB entries, ascending. */
  *regions(): IterableIterator<number> {
    for (let ci = 0; ci < this.chunks.length; ci++) {
      const chunk = this.chunks[ci];
      if (chunk === undefined) continue;
      for (let i = 0; i < CHUNK_REGIONS; i++) if (chunk.flags[i] !== 0) yield ci * CHUNK_REGIONS + i;
    }
  }

  /** True when the region holds 4 KB entries of which at least one is assigned (a smashed or 4 KB-built region). */
  isRegionSmashed(regionIndex: number): boolean {
    const chunk = this.chunks[regionIndex >>> 9];
    return chunk !== undefined && ((chunk.flags[regionIndex & 511] as number) & F_DETAIL) !== 0;
  }

  assignedPageCount(): number {
    return this.assignedPages;
  }
}
