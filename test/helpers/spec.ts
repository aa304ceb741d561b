/**
 * The references' own reading of the spec, written from docs/hardware.md and not
 * from src/: the code tables (RMP return codes, #NPF bits, SEV firmware statuses)
 * and a v1 PTE decoder. Tests compare src/'s tables and decoders against these
 * (test/iommu/spec-reference.test.ts); models and reference walks use only these,
 * so a wrong number or shift in src/ cannot be copied into the expectation.
 */

/** RMPUPDATE / PSMASH / PVALIDATE return codes in EAX (hardware.md §1.4-§1.6). */
export const SPEC_RMP_RC = {
  SUCCESS: 0,
  FAIL_INPUT: 1,
  FAIL_PERMISSION: 2,
  FAIL_INUSE: 3,
  FAIL_OVERLAP: 4,
  FAIL_SIZEMISMATCH: 6,
  /** PSMASH's "cannot be split" (7): the name is ours (hardware.md §1.4). */
  FAIL_BADADDR: 7,
} as const;

/** Nested-page-fault error-code bits (hardware.md §1.6). */
export const SPEC_NPF = {
  RMP: 1n << 31n,
  ENC: 1n << 34n,
  SIZEM: 1n << 35n,
  VMPL: 1n << 36n,
} as const;

/** The SEV firmware statuses hardware.md §2.3 lists. */
export const SPEC_FW_STATUS = {
  SUCCESS: 0x00,
  INVALID_PLATFORM_STATE: 0x01,
  INVALID_ADDRESS: 0x09,
  INVALID_ASID: 0x0d,
  INVALID_PARAM: 0x16,
  INVALID_PAGE_SIZE: 0x19,
  INVALID_PAGE_STATE: 0x1a,
  INVALID_PAGE_OWNER: 0x1c,
  IN_USE: 0x3a,
  INVALID_TDI_STATE: 0x3c,
} as const;

/** Bits hi..lo of a 64-bit value. */
export function bits(value: bigint, hi: number, lo: number): bigint {
  return (value >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

const bit = (value: bigint, n: number): boolean => bits(value, n, n) === 1n;

export interface SpecPte {
  present: boolean;
  nextLevel: number;
  read: boolean;
  write: boolean;
  fc: boolean;
  leaf: boolean;
  /** A leaf's page address and size. */
  pa?: number;
  sizeLg2?: number;
  /** A table pointer's next table. */
  table?: number;
}

/**
 * A PTE or PDE at `level` as hardware.md §3.1-§3.3 describes it: PR bit 0,
 * NextLevel 11:9, the address 51:12 (without the C-bit, when one is given), FC 60,
 * IR 61, IW 62. NextLevel 0 is a leaf of the level's natural size 2^(12+9(L-1));
 * 7 a leaf whose size is in the address: the first zero bit z at or above 12 gives
 * 2^(z+1) bytes, and the address is the field with bits z..12 cleared.
 */
export function specPte(value: bigint, level: number, cBit: number | null = null): SpecPte {
  let address = bits(value, 51, 12) << 12n;
  if (cBit !== null && cBit >= 12 && cBit <= 51) address &= ~(1n << BigInt(cBit));
  const nextLevel = Number(bits(value, 11, 9));
  const base = { present: bit(value, 0), nextLevel, read: bit(value, 61), write: bit(value, 62), fc: bit(value, 60) };
  if (nextLevel === 0) return { ...base, leaf: true, sizeLg2: 12 + 9 * (level - 1), pa: Number(address) };
  if (nextLevel === 7) {
    let z = 12;
    while (z <= 51 && bit(address, z)) z++;
    return { ...base, leaf: true, sizeLg2: z + 1, pa: Number(address & ~((1n << BigInt(z + 1)) - 1n)) };
  }
  return { ...base, leaf: false, table: Number(address) };
}

/** IOVA bits a level-L table indexes: [12+9L-1 : 12+9(L-1)], level 6 only 63:57 (hardware.md §3.2). */
export function specLevelIndex(iova: bigint, level: number): number {
  return Number(bits(iova, Math.min(63, 12 + 9 * level - 1), 12 + 9 * (level - 1)));
}

/** Entries a level-L table uses (hardware.md §3.2: level 6 has 128). */
export function specEntries(level: number): number {
  return level === 6 ? 128 : 512;
}
