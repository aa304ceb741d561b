/**
 * AMD IOMMU v1 host page-table entry (PTE/PDE) layout, hardware.md §3.1-3.3.
 * This file owns every PTE shift and mask: the walker, the mapper and the
 * firmware read and write entries only through what it exports.
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { POW2 } from '../util/pow2.js';

/** PTE/PDE bits (hardware.md §3.1). */
export const PTE_PR = 1n << 0n;
/** Accessed (not used by Linux; hardware.md §7 item 11). */
export const PTE_A = 1n << 5n;
/** Host dirty, set on writes when dirty tracking is on. */
export const PTE_D = 1n << 6n;
export const PTE_NEXT_LEVEL_SHIFT = 9n;
export const PTE_NEXT_LEVEL_MASK = 7n;
/** Address field, bits 51:12. */
export const PTE_ADDR_MASK = 0x000f_ffff_ffff_f000n;
export const PTE_U = 1n << 59n;
export const PTE_FC = 1n << 60n;
export const PTE_IR = 1n << 61n;
export const PTE_IW = 1n << 62n;

/** NextLevel codes: 0 = leaf of the level's default size, 7 = leaf with the size in the address. */
export const NL_DEFAULT_LEAF = 0;
export const NL_SIZED_LEAF = 7;

/**
 * C-bit position masked out of IOMMU table and leaf addresses (hardware.md §3.1,
 * §7 item 12: Linux sets it with PT_FEAT_AMDV1_ENCRYPT_TABLES). 51 on current EPYC
 * parts; null turns masking off.
 */
export const DEFAULT_C_BIT: number | null = 51;

export const PAGE_SHIFT = 12;
export const MIN_LEVEL = 1;
export const MAX_LEVEL = 6;
/** Entries per table; the level-6 table only uses 128 (bits 63:57). */
export const ENTRIES_PER_TABLE = 512;
/** The largest size an NL=7 leaf may encode (iommupt amdv1pt_possible_sizes: bit 51). */
export const MAX_LEAF_SIZE_LG2 = 51;
/** 512 GB leaves are excluded by a hardware erratum (AMD_IOMMU_PGSIZES, hardware.md §3.2). */
export const ERRATUM_SIZE_LG2 = 39;

export interface DecodedPte {
  present: boolean;
  nextLevel: number;
  read: boolean;
  write: boolean;
  fc: boolean;
  /** NL 0 or 7: the entry maps a page rather than pointing at a table. */
  leaf: boolean;
  /** Leaves only: log2 of the page size in bytes. */
  sizeLg2?: number;
  /** Leaves only: the page's SPA (C-bit stripped, NL=7 size bits cleared). */
  pa?: number;
  /** Table pointers only: SPA of the next table (C-bit stripped). */
  table?: number;
}

/** Default leaf size (NL=0) of a level: 4 KB, 2 MB, 1 GB, 512 GB, 256 TB, (no leaf at 6). */
export function levelDefaultSizeLg2(level: number): number {
  return PAGE_SHIFT + 9 * (level - 1);
}

/** The table index of `iova` at `level`: bits 12+9L-1 : 12+9(L-1); level 6 uses bits 63:57. */
export function levelIndex(iova: bigint, level: number): number {
  const shifted = iova >> BigInt(levelDefaultSizeLg2(level));
  return Number(level === MAX_LEVEL ? shifted & 0x7fn : shifted & 0x1ffn);
}

/** Same as levelIndex on the IOVA page number (always below 2^52), without bigint. */
export function levelIndexPfn(iovaPfn: number, level: number): number {
  // The quotient is a non-negative integer: & keeps its low 9 bits exactly (ToInt32 is modulo 2^32).
  return Math.floor(iovaPfn / (LEVEL_PFN_SPAN[level] ?? 2 ** (9 * (level - 1)))) & (ENTRIES_PER_TABLE - 1);
}

/** 4 KB pages under one entry of each level (index = level; 1 at level 1): a table, not a pow per walk step. */
const LEVEL_PFN_SPAN: readonly number[] = [1, 1, 2 ** 9, 2 ** 18, 2 ** 27, 2 ** 36, 2 ** 45];

/** Whether a leaf of `sizeLg2` may sit at `level` (hardware.md §3.2 table). */
export function leafSizeAllowed(level: number, sizeLg2: number): boolean {
  if (level < MIN_LEVEL || level >= MAX_LEVEL) return false;
  const def = levelDefaultSizeLg2(level);
  return sizeLg2 >= def && sizeLg2 <= Math.min(MAX_LEAF_SIZE_LG2, def + 8) && sizeLg2 !== ERRATUM_SIZE_LG2;
}

/** The level a leaf of `sizeLg2` is written at, or 0 when no level allows that size. */
export function leafLevelForSize(sizeLg2: number): number {
  for (let level = MIN_LEVEL; level < MAX_LEVEL; level++) if (leafSizeAllowed(level, sizeLg2)) return level;
  return 0;
}

/**
 * Mask of the address bits a walker keeps: bits 51:12 without the C-bit
 * (hardware.md §3.1 and §7 item 12; `cBit` null = no stripping).
 */
export function addressMask(cBit: number | null): bigint {
  return cBit === null ? PTE_ADDR_MASK : PTE_ADDR_MASK & ~(1n << BigInt(cBit));
}

/** Strips the C-bit from an SPA held as a number (e.g. a DTE root). */
export function stripCBit(spa: number, cBit: number | null): number {
  if (cBit === null) return spa;
  const bit = POW2[cBit] ?? 2 ** cBit;
  // Every walk strips its DTE root: below the C-bit there is nothing to strip.
  if (spa < bit) return spa;
  return (Math.floor(spa / bit) & 1) === 1 ? spa - bit : spa;
}

export function ptePresent(value: bigint): boolean {
  return (value & PTE_PR) !== 0n;
}

export function pteNextLevel(value: bigint): number {
  return Number((value >> PTE_NEXT_LEVEL_SHIFT) & PTE_NEXT_LEVEL_MASK);
}

/**
 * Decodes an entry read at `level`. NL=7 size (hardware.md §3.3): the first zero
 * bit z >= 12 of the address field gives 2^(z+1) bytes and the PA is the address
 * with bits z:12 cleared; an address field of all ones decodes as 2^53 (no level
 * allows it). Level 1 entries are always leaves unless NL says otherwise, which
 * the walker reports as a bad next level.
 */
export function decodePte(value: bigint, level: number, cBit: number | null = null): DecodedPte {
  const nextLevel = pteNextLevel(value);
  const base = {
    present: (value & PTE_PR) !== 0n,
    nextLevel,
    read: (value & PTE_IR) !== 0n,
    write: (value & PTE_IW) !== 0n,
    fc: (value & PTE_FC) !== 0n,
  };
  const addr = value & addressMask(cBit);
  if (nextLevel === NL_DEFAULT_LEAF) {
    return { ...base, leaf: true, sizeLg2: levelDefaultSizeLg2(level), pa: Number(addr) };
  }
  if (nextLevel === NL_SIZED_LEAF) {
    const sizeLg2 = sizedLeafLg2(addr);
    const pa = Number(addr & ~((1n << BigInt(sizeLg2)) - 1n));
    return { ...base, leaf: true, sizeLg2, pa };
  }
  return { ...base, leaf: false, table: Number(addr) };
}

/** NL=7 size of an address field: first zero bit z >= 12 gives 2^(z+1) (hardware.md §3.3). */
export function sizedLeafLg2(addr: bigint): number {
  let z = PAGE_SHIFT;
  while (z <= 51 && ((addr >> BigInt(z)) & 1n) === 1n) z++;
  return z + 1;
}

export interface LeafFields {
  pa: number;
  sizeLg2: number;
  level: number;
  read: boolean;
  write: boolean;
  fc: boolean;
}

/**
 * A leaf without its page address: PR, permissions, FC, NextLevel and (NL=7) the
 * run of size ones (bits sizeLg2-2:12). The mapper ORs each page's SPA into it.
 * Throws when the level does not allow the size (hardware.md §3.2).
 */
export function leafTemplate(f: Omit<LeafFields, 'pa'>): bigint {
  if (!leafSizeAllowed(f.level, f.sizeLg2)) {
    throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `a level-${f.level} leaf cannot be 2^${f.sizeLg2} bytes (hardware.md §3.2)`, {
      level: f.level,
      sizeLg2: f.sizeLg2,
    });
  }
  let value = PTE_PR;
  if (f.read) value |= PTE_IR;
  if (f.write) value |= PTE_IW;
  if (f.fc) value |= PTE_FC;
  if (f.sizeLg2 !== levelDefaultSizeLg2(f.level)) {
    value |= BigInt(NL_SIZED_LEAF) << PTE_NEXT_LEVEL_SHIFT;
    value |= ((1n << BigInt(f.sizeLg2 - 1)) - 1n) & PTE_ADDR_MASK;
  }
  return value;
}

/** A leaf: NL=0 at the level's default size, NL=7 for the larger sizes it allows. */
export function encodeLeaf(f: LeafFields): bigint {
  const template = leafTemplate(f);
  if (!Number.isSafeInteger(f.pa) || f.pa < 0 || f.pa % 2 ** f.sizeLg2 !== 0 || f.pa >= 2 ** 52) {
    throw new EmuError(ERROR_CODES.MISALIGNED, `leaf address ${String(f.pa)} is not a 2^${f.sizeLg2}-aligned SPA`, { pa: f.pa });
  }
  return template | BigInt(f.pa);
}

/** A table pointer as Linux writes it: PR | NL<<9 | tableSpa | IR | IW (hardware.md §3.1). */
export function encodeTablePointer(tableSpa: number, nextLevel: number): bigint {
  if (!Number.isSafeInteger(tableSpa) || tableSpa < 0 || tableSpa % 4096 !== 0 || tableSpa >= 2 ** 52) {
    throw new EmuError(ERROR_CODES.MISALIGNED, `table address ${String(tableSpa)} is not a 4 KB-aligned SPA`, { tableSpa });
  }
  if (!Number.isInteger(nextLevel) || nextLevel < MIN_LEVEL || nextLevel > MAX_LEVEL - 1) {
    throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `a table pointer's NextLevel must be 1..5, got ${nextLevel}`);
  }
  return PTE_PR | (BigInt(nextLevel) << PTE_NEXT_LEVEL_SHIFT) | BigInt(tableSpa) | PTE_IR | PTE_IW;
}

/**
 * Leaf size of a present entry read at `level` without building a DecodedPte (hot
 * loops over whole tables); 0 when the entry is a table pointer.
 */
export function pteLeafSizeLg2(value: bigint, level: number, addrMask: bigint = PTE_ADDR_MASK): number {
  const nextLevel = pteNextLevel(value);
  if (nextLevel === NL_DEFAULT_LEAF) return levelDefaultSizeLg2(level);
  if (nextLevel === NL_SIZED_LEAF) return sizedLeafLg2(value & addrMask);
  return 0;
}

/** The address an entry points at (table or page), under `addrMask` (see addressMask). */
export function pteTarget(value: bigint, addrMask: bigint = PTE_ADDR_MASK): number {
  return Number(value & addrMask);
}

/** The same entry with another page address (the smash engine's expected PTEs). */
export function withAddress(value: bigint, spa: number): bigint {
  return (value & ~PTE_ADDR_MASK) | (BigInt(spa) & PTE_ADDR_MASK);
}

/** The raw address field (bits 51:12) as a number, C-bit included. */
export function pteAddressField(value: bigint): number {
  return Number(value & PTE_ADDR_MASK);
}

/** Bits 63:52 of an entry (IW, IR, FC, U and the ignored bits above the address). */
export const PTE_HIGH_MASK = 0xfff0_0000_0000_0000n;

export function pteHighBits(value: bigint): bigint {
  return value & PTE_HIGH_MASK;
}

/**
 * PTE `index` of the 4 KB table that replaces a 2 MB leaf `old`, as AMD's TMPM
 * driver pre-fills it for PSMASH_IO (docs/hardware.md §2.4): low 12 bits 0x001
 * (PR only), address field old + index x 4 KB, bits 63:52 copied from `old`.
 */
export function smashPrefillPte(old: bigint, index: number): bigint {
  return pteHighBits(old) | (BigInt(pteAddressField(old) + index * 4096) & PTE_ADDR_MASK) | PTE_PR;
}

/** The 2 MB leaf PUNSMASH_IO writes back: PR, NextLevel 0, PTE 0's address field and bits 63:52. */
export function mergedLeafFrom(pte0: bigint): bigint {
  return pteHighBits(pte0) | (pte0 & PTE_ADDR_MASK) | PTE_PR;
}

/** Bits 63:52 as the hi half holds them (hi bits 31:20), unsigned. */
export function pteHighHi(hi: number): number {
  return hi >>> 20;
}

/*
 * The same layout read as two 32-bit halves (lo = bits 31:0, hi = bits 63:32, as
 * HostMemory.pageHalves / wordLo / wordHi give them), for loops over whole tables
 * where a bigint per entry would allocate (ARCHITECTURE.md, "Value conventions
 * inside the domain"). Bit positions are hardware.md §3.1's; each agrees with the
 * bigint decoder above on every value (test/iommu/pte-halves.test.ts).
 */

/** PR, bit 0 (in lo). */
const LO_PR = 1 << 0;
/** NextLevel, bits 11:9 (in lo). */
const LO_NEXT_LEVEL_SHIFT = 9;
const LO_NEXT_LEVEL_MASK = 7;
/** Address bits 31:12 (in lo). */
const LO_ADDR_MASK = 0xffff_f000;
/** Address bits 51:32 (hi bits 19:0). */
const HI_ADDR_MASK = 0x000f_ffff;
/** FC bit 60, IR bit 61, IW bit 62: hi bits 28, 29, 30. */
const HI_FC = 1 << 28;
const HI_IR = 1 << 29;
const HI_IW = 1 << 30;
const TWO_32 = 2 ** 32;

export function ptePresentLo(lo: number): boolean {
  return (lo & LO_PR) !== 0;
}

/**
 * How many entries from the start of a table (its halves) are present 4 KB leaves
 * (PR 1, NextLevel 0) whose address bits 51:12, taken whole (no C-bit stripped), are
 * `firstAddr` + i x 4 KB and whose bits 63:52 are `high`: the table PSMASH_IO check
 * 10 wants, read with integer compares only (every smash and unsmash reads 512).
 */
export function leafRunLength(view: Uint32Array, firstAddr: number, high: number, entries: number): number {
  const prAndNextLevel = LO_PR | (LO_NEXT_LEVEL_MASK << LO_NEXT_LEVEL_SHIFT);
  let addrLo = firstAddr % TWO_32;
  let addrHi = Math.floor(firstAddr / TWO_32);
  if (addrLo + entries * 4096 <= TWO_32 && addrHi <= HI_ADDR_MASK && high <= 0xfff) {
    // The run stays below one 4 GiB boundary (a 2 MB-aligned table always does): every
    // hi half must equal one value, and each lo half, under the PR, NextLevel and
    // address bits, PR | the entry's address. Compared as int32.
    const loMask = LO_ADDR_MASK | prAndNextLevel;
    const wantHi = (high << 20) | addrHi | 0;
    let wantLo = addrLo | LO_PR;
    for (let i = 0; i < entries; i++) {
      if (((view[2 * i] as number) & loMask) !== wantLo || ((view[2 * i + 1] as number) | 0) !== wantHi) return i;
      wantLo = (wantLo + 4096) | 0;
    }
    return entries;
  }
  for (let i = 0; i < entries; i++) {
    const lo = view[2 * i] as number;
    const hi = view[2 * i + 1] as number;
    if ((lo & prAndNextLevel) !== LO_PR || (lo & LO_ADDR_MASK) >>> 0 !== addrLo || (hi & HI_ADDR_MASK) !== addrHi || hi >>> 20 !== high) return i;
    addrLo += 4096;
    if (addrLo >= TWO_32) {
      addrLo -= TWO_32;
      addrHi++;
    }
  }
  return entries;
}

export function pteNextLevelLo(lo: number): number {
  return (lo >>> LO_NEXT_LEVEL_SHIFT) & LO_NEXT_LEVEL_MASK;
}

export function pteReadHi(hi: number): boolean {
  return (hi & HI_IR) !== 0;
}

export function pteWriteHi(hi: number): boolean {
  return (hi & HI_IW) !== 0;
}

export function pteFcHi(hi: number): boolean {
  return (hi & HI_FC) !== 0;
}

/**
 * The lo half of addressMask(cBit): address bits 31:12, less the C-bit when it falls
 * there. Unsigned. Compute once per loop and pass to pteAddressMasked.
 */
export function addrMaskLo(cBit: number | null): number {
  const strip = cBit !== null && cBit >= PAGE_SHIFT && cBit <= 31 ? 2 ** cBit : 0;
  return (LO_ADDR_MASK - strip) >>> 0;
}

/** The hi half of addressMask(cBit): address bits 51:32 (as hi bits 19:0), less the C-bit (51 by default). */
export function addrMaskHi(cBit: number | null): number {
  const strip = cBit !== null && cBit >= 32 && cBit <= 51 ? 2 ** (cBit - 32) : 0;
  return HI_ADDR_MASK - strip;
}

/** The address an entry points at (table or NL=0 page) under masks from addrMaskLo/Hi: a number below 2^52. */
export function pteAddressMasked(lo: number, hi: number, maskLo: number, maskHi: number): number {
  return (hi & maskHi) * TWO_32 + ((lo & maskLo) >>> 0);
}

/** Address bits 51:12 of an entry held as halves, C-bit stripped (decodePte's `table`, NL=0's `pa`). */
export function pteAddressHalves(lo: number, hi: number, cBit: number | null): number {
  return pteAddressMasked(lo, hi, addrMaskLo(cBit), addrMaskHi(cBit));
}

/**
 * sizedLeafLg2 on a masked address held as halves: the first zero bit z >= 12 gives
 * 2^(z+1) bytes (hardware.md §3.3); all of 51:12 ones gives 2^53.
 */
export function sizedLeafLg2Halves(addrLo: number, addrHi: number): number {
  const zerosLo = ~addrLo & LO_ADDR_MASK;
  if (zerosLo !== 0) return 32 - Math.clz32(zerosLo & -zerosLo);
  const zerosHi = ~addrHi & HI_ADDR_MASK;
  if (zerosHi !== 0) return 64 - Math.clz32(zerosHi & -zerosHi);
  return 53;
}

/**
 * pteLeafSizeLg2 on halves: log2 of the leaf size of a present entry read at
 * `level`, 0 for a table pointer. Masks from addrMaskLo/Hi (the C-bit never counts
 * as a size one).
 */
export function pteLeafSizeLg2Halves(lo: number, hi: number, level: number, maskLo: number, maskHi: number): number {
  const nextLevel = pteNextLevelLo(lo);
  if (nextLevel === NL_DEFAULT_LEAF) return levelDefaultSizeLg2(level);
  if (nextLevel === NL_SIZED_LEAF) return sizedLeafLg2Halves(lo & maskLo, hi & maskHi);
  return 0;
}

/** A leaf's page SPA from halves: the masked address with the size bits (sizeLg2-1:12) cleared. */
export function pteLeafPaMasked(lo: number, hi: number, sizeLg2: number, maskLo: number, maskHi: number): number {
  const addr = pteAddressMasked(lo, hi, maskLo, maskHi);
  return addr - (addr % 2 ** sizeLg2);
}

/** decodePte on halves (same object, same fields): the slow paths and the tests. */
export function decodePteHalves(lo: number, hi: number, level: number, cBit: number | null = null): DecodedPte {
  const nextLevel = pteNextLevelLo(lo);
  const base = { present: ptePresentLo(lo), nextLevel, read: pteReadHi(hi), write: pteWriteHi(hi), fc: pteFcHi(hi) };
  const maskLo = addrMaskLo(cBit);
  const maskHi = addrMaskHi(cBit);
  if (nextLevel === NL_DEFAULT_LEAF) {
    return { ...base, leaf: true, sizeLg2: levelDefaultSizeLg2(level), pa: pteAddressMasked(lo, hi, maskLo, maskHi) };
  }
  if (nextLevel === NL_SIZED_LEAF) {
    const sizeLg2 = sizedLeafLg2Halves(lo & maskLo, hi & maskHi);
    return { ...base, leaf: true, sizeLg2, pa: pteLeafPaMasked(lo, hi, sizeLg2, maskLo, maskHi) };
  }
  return { ...base, leaf: false, table: pteAddressMasked(lo, hi, maskLo, maskHi) };
}

/**
 * The halves of withAddress(value, spa) given value's halves: the smash engine
 * compares 512 expected PTEs without building a bigint each. Unsigned.
 */
export function withAddressLo(lo: number, spa: number): number {
  return ((lo & ~LO_ADDR_MASK) | (spa & LO_ADDR_MASK)) >>> 0;
}

export function withAddressHi(hi: number, spa: number): number {
  return ((hi & ~HI_ADDR_MASK) | (Math.floor(spa / TWO_32) & HI_ADDR_MASK)) >>> 0;
}

/** The halves of a bigint entry (tests, and the edges of the halves paths). */
export function pteHalves(value: bigint): { lo: number; hi: number } {
  return { lo: Number(value & 0xffff_ffffn), hi: Number((value >> 32n) & 0xffff_ffffn) };
}
