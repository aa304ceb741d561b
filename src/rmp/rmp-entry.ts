/**
 * The raw low qword of an RMP entry (hardware.md §1.2, the PPR Fam19h Model 01h
 * in-memory format). Every RMP shift and mask lives in this file; the RMP table keeps
 * its own compact storage and encodes through here only to report `raw`.
 *
 * | bit(s) | field      |
 * |--------|------------|
 * | 0      | Assigned   |
 * | 1      | PageSize (0 = 4 KB, 1 = 2 MB) |
 * | 2      | Immutable  |
 * | 50:12  | GPA[50:12] |
 * | 60:51  | ASID       |
 * | 61     | VMSA       |
 * | 62     | Validated  |
 *
 * Bits 11:3 and 63 are reserved: decode ignores them, encode writes zero. The high
 * qword (VMPL permissions) is not modelled (its layout is UNCONFIRMED).
 */
import { invalidArgument } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';

export type RmpPageSize = '4K' | '2M';

export interface RmpEntry {
  assigned: boolean;
  pageSize: RmpPageSize;
  immutable: boolean;
  validated: boolean;
  vmsa: boolean;
  /** 10-bit owner; 0 with assigned = firmware-owned. */
  asid: number;
  /** Guest physical address, 4 KB aligned, below 2^51. */
  gpa: number;
}

const ASSIGNED_BIT = 1n << 0n;
const PAGE_SIZE_BIT = 1n << 1n;
const IMMUTABLE_BIT = 1n << 2n;
const GPA_MASK = ((1n << 39n) - 1n) << 12n; // bits 50:12
const ASID_SHIFT = 51n;
const ASID_FIELD = (1n << 10n) - 1n;
const VMSA_BIT = 1n << 61n;
const VALIDATED_BIT = 1n << 62n;
const U64_MAX = (1n << 64n) - 1n;

/** Largest ASID the 10-bit field holds. */
export const RMP_ASID_MAX = 1023;
/** Exclusive upper bound of a GPA the 39-bit GPA[50:12] field holds. */
export const RMP_GPA_LIMIT = 2 ** 51;
/** The first 16 KB of the RMP is CPU bookkeeping (hardware.md §1.1). */
export const RMP_ENTRIES_OFFSET = 0x4000;
export const RMP_ENTRY_BYTES = 16;

export function isValidRmpAsid(asid: number): boolean {
  return Number.isInteger(asid) && asid >= 0 && asid <= RMP_ASID_MAX;
}

/** True for a 4 KB-aligned GPA the entry can hold. */
export function isValidRmpGpa(gpa: number): boolean {
  return Number.isSafeInteger(gpa) && gpa >= 0 && gpa < RMP_GPA_LIMIT && gpa % 4096 === 0;
}

export function encodeRmpRaw(e: RmpEntry): bigint {
  if (!isValidRmpAsid(e.asid)) throw invalidArgument(`RMP asid must be an integer 0..${RMP_ASID_MAX}, got ${e.asid}`);
  if (!isValidRmpGpa(e.gpa)) throw invalidArgument(`RMP gpa must be 4 KB aligned and below 2^51, got ${e.gpa}`);
  let raw = BigInt(e.gpa) | (BigInt(e.asid) << ASID_SHIFT);
  if (e.assigned) raw |= ASSIGNED_BIT;
  if (e.pageSize === '2M') raw |= PAGE_SIZE_BIT;
  if (e.immutable) raw |= IMMUTABLE_BIT;
  if (e.vmsa) raw |= VMSA_BIT;
  if (e.validated) raw |= VALIDATED_BIT;
  return raw;
}

export function decodeRmpRaw(raw: bigint): RmpEntry {
  if (raw < 0n || raw > U64_MAX) throw invalidArgument(`RMP raw entry must be a 64-bit value, got ${raw}`);
  return {
    assigned: (raw & ASSIGNED_BIT) !== 0n,
    pageSize: (raw & PAGE_SIZE_BIT) !== 0n ? '2M' : '4K',
    immutable: (raw & IMMUTABLE_BIT) !== 0n,
    validated: (raw & VALIDATED_BIT) !== 0n,
    vmsa: (raw & VMSA_BIT) !== 0n,
    asid: Number((raw >> ASID_SHIFT) & ASID_FIELD),
    gpa: Number(raw & GPA_MASK),
  };
}

/** Byte offset of a PFN's entry from RMP_BASE: 0x4000 + pfn * 16 (hardware.md §1.1). */
export function rmpEntryOffset(pfn: number): number {
  const offset = RMP_ENTRIES_OFFSET + pfn * RMP_ENTRY_BYTES;
  if (!Number.isSafeInteger(pfn) || pfn < 0 || !Number.isSafeInteger(offset)) {
    throw invalidArgument(`pfn must be a non-negative integer, got ${Number.isSafeInteger(pfn) && pfn >= 0 ? toHex(pfn) : pfn}`);
  }
  return offset;
}

/** The authoritative entry of one page, filled in place by readEntryInto (no allocation). */
export interface RmpEntryScratch {
  /** PFN of the authoritative entry (the region base for a 2 MB entry). */
  entryPfn: number;
  /** 12 or 21. */
  pageSizeLg2: number;
  assigned: boolean;
  immutable: boolean;
  validated: boolean;
  vmsa: boolean;
  asid: number;
  /** The entry's own GPA page number. */
  gpaPfn: number;
  /** The GPA page number of the page itself: gpaPfn + offset in a 2 MB entry; 0 when unassigned. */
  pageGpaPfn: number;
}

export function newRmpScratch(): RmpEntryScratch {
  return { entryPfn: 0, pageSizeLg2: 12, assigned: false, immutable: false, validated: false, vmsa: false, asid: 0, gpaPfn: 0, pageGpaPfn: 0 };
}
