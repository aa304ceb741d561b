/**
 * The RMP table's storage (rmp-table.ts has the instructions over it): one lazily
 * created chunk per GiB of SPA holds, per 2 MB region, a flag byte, the ASID and the
 * GPA page number in typed arrays; a region whose 4 KB entries are not all unassigned
 * has a 512-entry detail record. The flags are this storage's format, not the RMP
 * bit layout (rmp-entry.ts has that).
 */
export const PAGE_BYTES = 4096;
export const REGION_PAGES = 512;
export const REGION_BYTES = REGION_PAGES * PAGE_BYTES;
/** Regions per chunk: 512 x 2 MB = 1 GiB of SPA. */
export const CHUNK_REGIONS = 512;
export const CHUNK_PAGES = CHUNK_REGIONS * REGION_PAGES;
/** Dropped detail records kept for reuse. */
export const MAX_SPARE_DETAILS = 16;

// Storage flags (this file's storage format, not the RMP bit layout of rmp-entry.ts).
export const F_ASSIGNED = 1;
export const F_LARGE = 2;
export const F_IMMUTABLE = 4;
export const F_VALIDATED = 8;
export const F_VMSA = 16;
export const F_DETAIL = 32;
export const F_ASSIGNED_LARGE = F_ASSIGNED | F_LARGE;
/** The attributes PSMASH copies to each 4 KB entry and PAGE_UNSMASH requires equal. */
export const F_INHERITED = F_ASSIGNED | F_IMMUTABLE | F_VALIDATED;

export interface Detail {
  flags: Uint8Array;
  asid: Uint16Array;
  gpaPfn: Float64Array;
  /** Assigned entries among the 512; the record is dropped when this reaches 0. */
  assigned: number;
  /**
   * UNIFORM when the 512 entries are what PSMASH leaves (all assigned with entry 0's
   * Assigned/Immutable/Validated and ASID, VMSA 0, GPAs consecutive from entry 0's),
   * NOT_UNIFORM when not, UNKNOWN after a write to an entry (found on the next ask).
   * PSMASH_IO's check 9 and PAGE_UNSMASH's check then cost O(1) on a smashed region.
   */
  uniform: number;
}

export const UNKNOWN = -1;
export const NOT_UNIFORM = 0;
export const UNIFORM = 1;

export interface Chunk {
  flags: Uint8Array;
  asid: Uint16Array;
  gpaPfn: Float64Array;
  detail: (Detail | undefined)[];
  /** Regions holding any assigned page: lets anyAssignedIn skip a whole GiB. */
  assignedRegions: number;
}

export function newChunk(): Chunk {
  return {
    flags: new Uint8Array(CHUNK_REGIONS),
    asid: new Uint16Array(CHUNK_REGIONS),
    gpaPfn: new Float64Array(CHUNK_REGIONS),
    detail: new Array<Detail | undefined>(CHUNK_REGIONS).fill(undefined),
    assignedRegions: 0,
  };
}

export function newDetail(): Detail {
  return { flags: new Uint8Array(REGION_PAGES), asid: new Uint16Array(REGION_PAGES), gpaPfn: new Float64Array(REGION_PAGES), assigned: 0, uniform: UNKNOWN };
}

/** Whether a detail record is what PSMASH leaves (see Detail.uniform), cached in it. */
export function isUniform(d: Detail): boolean {
  if (d.uniform === UNKNOWN) {
    const f0 = d.flags[0] as number;
    const asid0 = d.asid[0] as number;
    const gpa0 = d.gpaPfn[0] as number;
    let k = 0;
    if ((f0 & F_ASSIGNED) !== 0 && (f0 & F_VMSA) === 0) {
      for (; k < REGION_PAGES; k++) if (d.flags[k] !== f0 || d.asid[k] !== asid0 || d.gpaPfn[k] !== gpa0 + k) break;
    }
    d.uniform = k === REGION_PAGES ? UNIFORM : NOT_UNIFORM;
  }
  return d.uniform === UNIFORM;
}

export function regionHasAssigned(flags: number): boolean {
  return (flags & F_ASSIGNED_LARGE) === F_ASSIGNED_LARGE || (flags & F_DETAIL) !== 0;
}
