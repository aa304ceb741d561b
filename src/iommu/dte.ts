/**
 * The 256-bit Device Table Entry (four qwords), hardware.md §3.4. This file owns
 * every DTE shift and mask. Fields the emulator does not act on (HAD, PPR, GIOV,
 * GV, GLX, IOTLB enable) are still decoded so that a client reads back what it wrote.
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';

/** Qword 0 bits. */
export const DTE_V = 1n << 0n;
export const DTE_TV = 1n << 1n;
export const DTE_HAD_SHIFT = 7n;
export const DTE_HAD_MASK = 3n;
export const DTE_MODE_SHIFT = 9n;
export const DTE_MODE_MASK = 7n;
/** Host page-table root, bits 51:12 (4 KB aligned). */
export const DTE_ROOT_MASK = 0x000f_ffff_ffff_f000n;
export const DTE_PPR = 1n << 52n;
export const DTE_GIOV = 1n << 54n;
export const DTE_GV = 1n << 55n;
export const DTE_GLX_SHIFT = 56n;
export const DTE_GLX_MASK = 3n;
export const DTE_IR = 1n << 61n;
export const DTE_IW = 1n << 62n;
/** Qword 1 bits. */
export const DTE1_DOMAIN_ID_MASK = 0xffffn;
export const DTE1_IOTLB_ENABLE = 1n << 32n;

export const DTE_QWORDS = 4;
export const DTE_BYTES = 32;
/** Mode 0: pass-through, refused with SNP; 7: reserved (hardware.md §3.4). */
export const DTE_MODE_PASS_THROUGH = 0;
export const DTE_MODE_RESERVED = 7;

export interface DteFields {
  valid: boolean;
  translationValid: boolean;
  had: number;
  mode: number;
  /** Root table SPA as written (C-bit, if any, still set; the walker strips it). */
  root: number;
  ppr: boolean;
  giov: boolean;
  gv: boolean;
  glx: number;
  read: boolean;
  write: boolean;
  domainId: number;
  iotlbEnable: boolean;
}

export type DecodedDte = DteFields;

export function decodeDte(qwords: readonly bigint[]): DecodedDte {
  const q0 = qwords[0] ?? 0n;
  const q1 = qwords[1] ?? 0n;
  return {
    valid: (q0 & DTE_V) !== 0n,
    translationValid: (q0 & DTE_TV) !== 0n,
    had: Number((q0 >> DTE_HAD_SHIFT) & DTE_HAD_MASK),
    mode: Number((q0 >> DTE_MODE_SHIFT) & DTE_MODE_MASK),
    root: Number(q0 & DTE_ROOT_MASK),
    ppr: (q0 & DTE_PPR) !== 0n,
    giov: (q0 & DTE_GIOV) !== 0n,
    gv: (q0 & DTE_GV) !== 0n,
    glx: Number((q0 >> DTE_GLX_SHIFT) & DTE_GLX_MASK),
    read: (q0 & DTE_IR) !== 0n,
    write: (q0 & DTE_IW) !== 0n,
    domainId: Number(q1 & DTE1_DOMAIN_ID_MASK),
    iotlbEnable: (q1 & DTE1_IOTLB_ENABLE) !== 0n,
  };
}

/** Encodes the given fields; fields not given are 0. Qwords 2 and 3 are always 0. */
export function encodeDte(fields: Partial<DteFields>): bigint[] {
  const mode = fields.mode ?? 0;
  const root = fields.root ?? 0;
  const domainId = fields.domainId ?? 0;
  const had = fields.had ?? 0;
  const glx = fields.glx ?? 0;
  checkField('mode', mode, 7);
  checkField('domainId', domainId, 0xffff);
  checkField('had', had, 3);
  checkField('glx', glx, 3);
  if (!Number.isSafeInteger(root) || root < 0 || root % 4096 !== 0 || root >= 2 ** 52) {
    throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `DTE root must be a 4 KB-aligned SPA below 2^52, got ${String(root)}`, { field: 'root' });
  }
  let q0 = BigInt(root);
  if (fields.valid === true) q0 |= DTE_V;
  if (fields.translationValid === true) q0 |= DTE_TV;
  q0 |= BigInt(had) << DTE_HAD_SHIFT;
  q0 |= BigInt(mode) << DTE_MODE_SHIFT;
  if (fields.ppr === true) q0 |= DTE_PPR;
  if (fields.giov === true) q0 |= DTE_GIOV;
  if (fields.gv === true) q0 |= DTE_GV;
  q0 |= BigInt(glx) << DTE_GLX_SHIFT;
  if (fields.read === true) q0 |= DTE_IR;
  if (fields.write === true) q0 |= DTE_IW;
  let q1 = BigInt(domainId);
  if (fields.iotlbEnable === true) q1 |= DTE1_IOTLB_ENABLE;
  return [q0, q1, 0n, 0n];
}

/** The same DTE with another root and mode, every other bit kept (mode raise). */
export function withRootAndMode(qwords: readonly bigint[], root: number, mode: number): bigint[] {
  checkField('mode', mode, 7);
  const q0 = ((qwords[0] ?? 0n) & ~DTE_ROOT_MASK & ~(DTE_MODE_MASK << DTE_MODE_SHIFT)) | BigInt(root) | (BigInt(mode) << DTE_MODE_SHIFT);
  return [q0, qwords[1] ?? 0n, qwords[2] ?? 0n, qwords[3] ?? 0n];
}

/** Whether the DTE gives its device a domain: V=1 and TV=1 (protocol/README.md §6.2). */
export function dteHasDomain(dte: DecodedDte): boolean {
  return dte.valid && dte.translationValid;
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `DTE ${name} must be an integer 0..${max}, got ${String(value)}`, { field: name });
  }
}
