/**
 * A host driver's side of the PSP mailbox for tests, as Linux's __sev_do_cmd_locked
 * does it: the buffer in a page, the address registers, CMDRESP = id << 16 | IOC,
 * then (virtual time) the clock run to the command's end and CMDRESP read back.
 */
import type { Platform } from '../../src/platform/platform.js';
import { PSP_REG, decodeCmdresp } from '../../src/psp/registers.js';
import { readBytes, writeBytes } from '../../src/psp/bytes.js';

export const CMD_NS = 10_000;

/** Writes `bytes` into a fresh pool page and returns its SPA. */
export function bufferPage(p: Platform, bytes: Uint8Array): number {
  const spa = Number(p.memAlloc(1).spa);
  writeBytes(p.m.memory, spa, bytes);
  return spa;
}

/** Issues `command` with the buffer at `spa` (0: none), runs the clock past its end and returns CMDRESP decoded. */
export async function mailbox(p: Platform, command: number, spa: number | bigint, opts: { ioc?: boolean; advanceNs?: number } = {}) {
  const a = BigInt(spa);
  p.pspWriteReg(PSP_REG.CMDBUFF_ADDR_LO, Number(a & 0xffff_ffffn));
  p.pspWriteReg(PSP_REG.CMDBUFF_ADDR_HI, Number(a >> 32n));
  p.pspWriteReg(PSP_REG.CMDRESP, ((command << 16) | (opts.ioc === false ? 0 : 1)) >>> 0);
  await p.clockAdvance(opts.advanceNs ?? CMD_NS);
  const value = p.pspReadReg(PSP_REG.CMDRESP).value;
  return { value, ...decodeCmdresp(value) };
}

export function read(p: Platform, spa: number, length: number): Uint8Array {
  return readBytes(p.m.memory, spa, length);
}

/** Makes `pages` pages at `spa` firmware pages (RMP Assigned, ASID 0, Immutable), as rmp_mark_pages_firmware. */
export function markFirmware(p: Platform, spa: number, pages = 1): void {
  for (let i = 0; i < pages; i++) {
    const r = p.rmpUpdate(spa + i * 4096, { assigned: true, pageSize: '4K', asid: 0, gpa: 0, immutable: true });
    if (r.rc !== 0) throw new Error(`RMPUPDATE failed at ${spa + i * 4096}: ${r.rcName}`);
  }
}
