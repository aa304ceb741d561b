/**
 * TMPM commands, statuses and the pages they read and write (docs/hardware.md
 * §2.4): the PSMASH_IO / PUNSMASH_IO command page with its gctx word, and the
 * GET_CAPABILITIES page. Every field of those structures is encoded and decoded
 * here and nowhere else. PUNSMASH_IO's number and the PTE error codes are ours
 * (not public); vectors in test/vectors/tmpm.json.
 */
export const TMPM_COMMAND = {
  GET_CAPABILITIES: 0x00,
  NOOP: 0x01,
  PSMASH_IO: 0x05,
  /** Our number (the real one is not public); the scenario's `punsmashCommand` changes it. */
  PUNSMASH_IO: 0x06,
} as const;
export type TmpmCommandName = keyof typeof TMPM_COMMAND;

/** TMPM statuses (AMD spec #58151 rev 0.51 via drivers/dma/tmpm/main.h); SUCCESS is 0xF0. */
export const TMPM_STATUS = {
  INVALID_PLATFORM_STATE: 0x01,
  INVALID_PAGE_PADDR: 0x02,
  INVALID_NUM_PAGES: 0x03,
  MEM_POISONED: 0x04,
  INVALID_PAGE_STATE: 0x05,
  INVALID_PAGE_SIZE: 0x06,
  RMP_NOTEXCLUSIVE: 0x07,
  INVALID_GUEST: 0x08,
  INVALID_GPA_PADDR: 0x09,
  INVALID_HPTE_PADDR: 0x0a,
  INVALID_COMMAND: 0x0b,
  INVALID_SRC_PG_PADDR: 0x0c,
  INVALID_DST_PG_PADDR: 0x0d,
  INVALID_GCTX_PG_PADDR: 0x0e,
  INVALID_RMP_PADDR: 0x0f,
  INVALID_NEXT: 0x10,
  MEM_ABORTED: 0x11,
  RSVD_FIELD_NOT_ZERO: 0x12,
  VERSION_ERROR: 0x13,
  INVALID_TMPM_LIST_ADDR: 0x14,
  ADDRESSES_MISMATCH: 0x15,
  PARTIAL_SUCCESS: 0x16,
  RESOURCE_NOT_AVAILABLE: 0x17,
  INVALID_OVERLAP: 0x18,
  HW_MEM_ERR: 0x19,
  SUCCESS: 0xf0,
} as const;
export type TmpmStatus = (typeof TMPM_STATUS)[keyof typeof TMPM_STATUS];

/** Sub-statuses (migration lists); PSMASH_IO leaves 0. */
export const TMPM_SUB_STATUS = { UNUSED: 0, VALIDATE: 1, ACCESS: 2 } as const;

/** PSMASH_IO check 10: which rule the first bad PTE broke (gctx bits 63:60; ours). */
export const PTE_ERROR = {
  NONE: 0,
  PR_CLEAR: 1,
  NEXT_LEVEL_NOT_0: 2,
  ADDRESS: 3,
  HIGH_BITS: 4,
} as const;
export type PteError = (typeof PTE_ERROR)[keyof typeof PTE_ERROR];

const STATUS_NAMES = new Map<number, string>(Object.entries(TMPM_STATUS).map(([k, v]) => [v, k]));

export function tmpmStatusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `UNKNOWN_0x${status.toString(16)}`;
}

// ---- The PSMASH_IO / PUNSMASH_IO command page: four qwords ------------------------

export const CMD_PAGE_SRC_PG = 0;
export const CMD_PAGE_SMASH_HPTE = 8;
export const CMD_PAGE_SRC_HPMD = 16;
export const CMD_PAGE_GCTX = 24;
export const CMD_PAGE_BYTES = 32;

export interface CommandPage {
  srcPgPaddr: bigint;
  smashHptePaddr: bigint;
  srcHpmdPaddr: bigint;
  gctx: bigint;
}

export function encodeCommandPage(p: CommandPage): bigint[] {
  return [p.srcPgPaddr, p.smashHptePaddr, p.srcHpmdPaddr, p.gctx];
}

// ---- The gctx word --------------------------------------------------------------
// bits 7:0 status, 11:8 sub-status, 51:12 guest context page, 55:52 reserved,
// 59:56 PTE sub-error, 63:60 PTE error.

const GCTX_PAGE_MASK = 0x000f_ffff_ffff_f000n;
/** Bits that must be zero on input: 11:0 and 63:52 (outputs and reserved). */
const GCTX_MUST_BE_ZERO = 0xfffn | (0xfffn << 52n);
/*
 * The fields as the 32-bit halves hold them (lo = bits 31:0, hi = bits 63:32): every
 * smash reads the word and writes it back, and the halves go through one scratch
 * word instead of a bigint per field (ARCHITECTURE.md, "Value conventions inside
 * the domain"). Lo: status 7:0, sub-status 11:8, page bits 31:12. Hi: page bits
 * 51:32 (hi 19:0), reserved 55:52 (hi 23:20), PTE sub-error 59:56 (hi 27:24), PTE
 * error 63:60 (hi 31:28).
 */
const SCRATCH = new BigUint64Array(1);
const HALVES = new Uint32Array(SCRATCH.buffer);
const LO_STATUS_MASK = 0xff;
const LO_SUB_SHIFT = 8;
const LO_OUTPUTS = 0xfff;
const HI_SUBERR_SHIFT = 24;
const HI_ERR_SHIFT = 28;
/** Hi bits kept by gctxWithOutputs: 55:32 (page bits 51:32 and the reserved nibble). */
const HI_KEPT = 0x00ff_ffff;
const NIBBLE = 0xf;

export interface GctxWord {
  gctxPage: bigint;
  status: number;
  subStatus: number;
  pteSubError: number;
  pteError: number;
}

/** The word from its halves (one bigint). */
function fromHalves(lo: number, hi: number): bigint {
  HALVES[0] = lo;
  HALVES[1] = hi;
  return SCRATCH[0] as bigint;
}

function outputsLo(lo: number, status: number, subStatus: number): number {
  return (lo & ~LO_OUTPUTS) | (status & LO_STATUS_MASK) | ((subStatus & NIBBLE) << LO_SUB_SHIFT);
}

function outputsHi(hi: number, pteSubError: number, pteError: number): number {
  return (hi & HI_KEPT) | ((pteSubError & NIBBLE) << HI_SUBERR_SHIFT) | ((pteError & NIBBLE) << HI_ERR_SHIFT);
}

export function encodeGctxWord(g: GctxWord): bigint {
  SCRATCH[0] = g.gctxPage & GCTX_PAGE_MASK;
  return fromHalves(outputsLo(HALVES[0] as number, g.status, g.subStatus), outputsHi(HALVES[1] as number, g.pteSubError, g.pteError));
}

export function decodeGctxWord(value: bigint): GctxWord {
  SCRATCH[0] = value;
  const lo = HALVES[0] as number;
  const hi = HALVES[1] as number;
  return {
    gctxPage: value & GCTX_PAGE_MASK,
    status: lo & LO_STATUS_MASK,
    subStatus: (lo >>> LO_SUB_SHIFT) & NIBBLE,
    pteSubError: (hi >>> HI_SUBERR_SHIFT) & NIBBLE,
    pteError: (hi >>> HI_ERR_SHIFT) & NIBBLE,
  };
}

/** PSMASH_IO check 2: bits 11:0 or 63:52 set on input. */
export function gctxReservedBits(value: bigint): bigint {
  return value & GCTX_MUST_BE_ZERO;
}

/** The word the engine writes back: input bits 55:12 kept, the outputs replaced. */
export function gctxWithOutputs(input: bigint, out: Omit<GctxWord, 'gctxPage'>): bigint {
  SCRATCH[0] = input;
  return fromHalves(outputsLo(HALVES[0] as number, out.status, out.subStatus), outputsHi(HALVES[1] as number, out.pteSubError, out.pteError));
}

// ---- GET_CAPABILITIES: {u32 cap_reg, fw_reg, spec_reg, support_reg} ---------------

export const SUPPORT_RELOAD = 1 << 4;
export const SUPPORT_PSMASH = 1 << 6;
export const SUPPORT_PUNSMASH = 1 << 7;

export interface Capabilities {
  capReg: number;
  /** bits 31:24 major, 23:16 minor. */
  fwReg: number;
  specReg: number;
  supportReg: number;
}

export function versionReg(major: number, minor: number): number {
  return (major & 0xff) * 2 ** 24 + ((minor & 0xff) << 16);
}

export function decodeVersionReg(reg: number): { major: number; minor: number } {
  return { major: Math.floor(reg / 2 ** 24) & 0xff, minor: (reg >>> 16) & 0xff };
}

/** The two little-endian qwords GET_CAPABILITIES writes at list_paddr. */
export function encodeCapabilities(c: Capabilities): [bigint, bigint] {
  return [BigInt(c.capReg >>> 0) | (BigInt(c.fwReg >>> 0) << 32n), BigInt(c.specReg >>> 0) | (BigInt(c.supportReg >>> 0) << 32n)];
}

export function decodeCapabilities(q0: bigint, q1: bigint): Capabilities {
  return {
    capReg: Number(q0 & 0xffff_ffffn),
    fwReg: Number(q0 >> 32n),
    specReg: Number(q1 & 0xffff_ffffn),
    supportReg: Number(q1 >> 32n),
  };
}
