/**
 * The 16-byte IOMMU commands (hardware.md §3.5): opcode in bits 63:60 of qword 0.
 * This file owns every command shift and mask, both ways: the decoder the IOMMU
 * executes and the encoders a client or test uses (after Linux build_inv_address,
 * build_inv_iommu_pages, build_completion_wait).
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';

export const COMMAND_OPCODE = {
  COMPLETION_WAIT: 0x1,
  INVALIDATE_DEVTAB_ENTRY: 0x2,
  INVALIDATE_IOMMU_PAGES: 0x3,
  INVALIDATE_IOTLB_PAGES: 0x4,
  INVALIDATE_INTERRUPT_TABLE: 0x5,
  PREFETCH_IOMMU_PAGES: 0x6,
  COMPLETE_PPR_REQUEST: 0x7,
  INVALIDATE_IOMMU_ALL: 0x8,
} as const;
export type CommandName = keyof typeof COMMAND_OPCODE;

const OPCODE_NAMES = new Map<number, CommandName>(Object.entries(COMMAND_OPCODE).map(([name, op]) => [op, name as CommandName]));

export function commandName(opcode: number): CommandName | 'ILLEGAL' {
  return OPCODE_NAMES.get(opcode) ?? 'ILLEGAL';
}

export const CMD_OPCODE_SHIFT = 60n;
/** COMPLETION_WAIT qword 0. */
export const CMD_CW_STORE = 1n << 0n;
export const CMD_CW_INTERRUPT = 1n << 1n;
/** Flush queue (UNCONFIRMED, hardware.md §3.5); decoded, no effect. */
export const CMD_CW_FLUSH = 1n << 2n;
/** Store address, bits 51:3 (8-byte aligned). */
export const CMD_CW_ADDR_MASK = 0x000f_ffff_ffff_fff8n;
/** INVALIDATE_DEVTAB_ENTRY qword 0. */
export const CMD_DEVID_MASK = 0xffffn;
/** INVALIDATE_IOMMU_PAGES qword 0. */
export const CMD_INV_PASID_MASK = 0xf_ffffn;
export const CMD_INV_DOMAIN_SHIFT = 32n;
export const CMD_INV_DOMAIN_MASK = 0xffffn;
/** INVALIDATE_IOMMU_PAGES qword 1. */
export const CMD_INV_S = 1n << 0n;
export const CMD_INV_PDE = 1n << 1n;
export const CMD_INV_GN = 1n << 2n;
export const CMD_INV_ADDR_MASK = 0xffff_ffff_ffff_f000n;
/** A first zero bit at or above 51 means the whole domain (hardware.md §3.5). */
export const CMD_INV_WHOLE_DOMAIN_Z = 51;
/** Linux CMD_INV_IOMMU_ALL_PAGES_ADDRESS. */
export const CMD_INV_ALL_PAGES_ADDRESS = 0x7fff_ffff_ffff_f000n;

/** Accepted with no effect (protocol/README.md §6.3). */
export type NoEffectName = 'INVALIDATE_IOTLB_PAGES' | 'INVALIDATE_INTERRUPT_TABLE' | 'PREFETCH_IOMMU_PAGES' | 'COMPLETE_PPR_REQUEST';

export type DecodedCommand =
  | { opcode: 0x1; name: 'COMPLETION_WAIT'; store: boolean; interrupt: boolean; flush: boolean; storeAddress: number; storeData: bigint }
  | { opcode: 0x2; name: 'INVALIDATE_DEVTAB_ENTRY'; deviceId: number }
  | {
      opcode: 0x3;
      name: 'INVALIDATE_IOMMU_PAGES';
      domainId: number;
      pasid: number;
      s: boolean;
      pde: boolean;
      gn: boolean;
      wholeDomain: boolean;
      /** Range base (aligned down to the size); 0 for the whole domain. */
      base: bigint;
      /** log2 of the range in bytes; 64 for the whole domain. */
      sizeLg2: number;
    }
  | { opcode: 0x8; name: 'INVALIDATE_IOMMU_ALL' }
  | { opcode: 0x4 | 0x5 | 0x6 | 0x7; name: NoEffectName; noEffect: true }
  | { opcode: number; name: 'ILLEGAL'; illegal: true };

export function decodeCommand(q0: bigint, q1: bigint): DecodedCommand {
  const opcode = Number((q0 >> CMD_OPCODE_SHIFT) & 0xfn);
  switch (opcode) {
    case 0x1:
      return {
        opcode,
        name: 'COMPLETION_WAIT',
        store: (q0 & CMD_CW_STORE) !== 0n,
        interrupt: (q0 & CMD_CW_INTERRUPT) !== 0n,
        flush: (q0 & CMD_CW_FLUSH) !== 0n,
        storeAddress: Number(q0 & CMD_CW_ADDR_MASK),
        storeData: q1,
      };
    case 0x2:
      return { opcode, name: 'INVALIDATE_DEVTAB_ENTRY', deviceId: Number(q0 & CMD_DEVID_MASK) };
    case 0x3:
      return decodeInvalidatePages(q0, q1);
    case 0x8:
      return { opcode, name: 'INVALIDATE_IOMMU_ALL' };
    case 0x4:
    case 0x5:
    case 0x6:
    case 0x7:
      return { opcode, name: commandName(opcode) as NoEffectName, noEffect: true };
    default:
      return { opcode, name: 'ILLEGAL', illegal: true };
  }
}

/** S=0: one 4 KB page; S=1: first zero bit z >= 12 gives 2^(z+1) bytes, z >= 51 the whole domain. */
function decodeInvalidatePages(q0: bigint, q1: bigint): DecodedCommand {
  const common = {
    opcode: 0x3 as const,
    name: 'INVALIDATE_IOMMU_PAGES' as const,
    domainId: Number((q0 >> CMD_INV_DOMAIN_SHIFT) & CMD_INV_DOMAIN_MASK),
    pasid: Number(q0 & CMD_INV_PASID_MASK),
    s: (q1 & CMD_INV_S) !== 0n,
    pde: (q1 & CMD_INV_PDE) !== 0n,
    gn: (q1 & CMD_INV_GN) !== 0n,
  };
  const addr = q1 & CMD_INV_ADDR_MASK;
  if (!common.s) return { ...common, wholeDomain: false, base: addr, sizeLg2: 12 };
  let z = 12;
  while (z < 64 && ((addr >> BigInt(z)) & 1n) === 1n) z++;
  if (z >= CMD_INV_WHOLE_DOMAIN_Z) return { ...common, wholeDomain: true, base: 0n, sizeLg2: 64 };
  const sizeLg2 = z + 1;
  return { ...common, wholeDomain: false, base: addr & ~((1n << BigInt(sizeLg2)) - 1n), sizeLg2 };
}

function opcodeQword(opcode: number): bigint {
  return BigInt(opcode) << CMD_OPCODE_SHIFT;
}

export function encodeCompletionWait(storeAddress: number, storeData: bigint, opts: { store?: boolean; interrupt?: boolean } = {}): [bigint, bigint] {
  if (!Number.isSafeInteger(storeAddress) || storeAddress < 0 || storeAddress % 8 !== 0 || storeAddress >= 2 ** 52) {
    throw new EmuError(ERROR_CODES.MISALIGNED, `COMPLETION_WAIT store address must be an 8-byte-aligned SPA, got ${String(storeAddress)}`);
  }
  let q0 = opcodeQword(COMMAND_OPCODE.COMPLETION_WAIT) | BigInt(storeAddress);
  if (opts.store ?? true) q0 |= CMD_CW_STORE;
  if (opts.interrupt === true) q0 |= CMD_CW_INTERRUPT;
  return [q0, BigInt.asUintN(64, storeData)];
}

export function encodeInvalidateDevtabEntry(deviceId: number): [bigint, bigint] {
  return [opcodeQword(COMMAND_OPCODE.INVALIDATE_DEVTAB_ENTRY) | (BigInt(deviceId) & CMD_DEVID_MASK), 0n];
}

/** Linux build_inv_address: the smallest naturally aligned power of two covering the range. */
export function encodeInvalidatePagesRange(domainId: number, address: bigint, sizeBytes: bigint, pde = true): [bigint, bigint] {
  const q0 = opcodeQword(COMMAND_OPCODE.INVALIDATE_IOMMU_PAGES) | (BigInt(domainId & 0xffff) << CMD_INV_DOMAIN_SHIFT);
  const pdeBit = pde ? CMD_INV_PDE : 0n;
  if (sizeBytes <= 0n) throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, 'invalidation size must be positive');
  const firstPage = address >> 12n;
  const lastPage = (address + sizeBytes - 1n) >> 12n;
  if (firstPage === lastPage) return [q0, (address & CMD_INV_ADDR_MASK) | pdeBit];
  const end = address + sizeBytes - 1n;
  const msbDiff = (end ^ address).toString(2).length - 1;
  const a = msbDiff > 51 ? CMD_INV_ALL_PAGES_ADDRESS : address | ((1n << BigInt(msbDiff)) - 1n);
  return [q0, (a & CMD_INV_ADDR_MASK) | CMD_INV_S | pdeBit];
}

export function encodeInvalidatePages(domainId: number, base: bigint, sizeLg2: number, pde = true): [bigint, bigint] {
  return encodeInvalidatePagesRange(domainId, base, 1n << BigInt(sizeLg2), pde);
}

export function encodeInvalidateDomain(domainId: number, pde = true): [bigint, bigint] {
  const q0 = opcodeQword(COMMAND_OPCODE.INVALIDATE_IOMMU_PAGES) | (BigInt(domainId & 0xffff) << CMD_INV_DOMAIN_SHIFT);
  return [q0, CMD_INV_ALL_PAGES_ADDRESS | CMD_INV_S | (pde ? CMD_INV_PDE : 0n)];
}

export function encodeInvalidateAll(): [bigint, bigint] {
  return [opcodeQword(COMMAND_OPCODE.INVALIDATE_IOMMU_ALL), 0n];
}
