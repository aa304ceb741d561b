/**
 * The PSP's SEV mailbox: six 32-bit registers of PCI BAR 2, the sevv2 offsets of the
 * pspv4 profile (PCI device 0x14CA), and the bits of CMDRESP, FEATURE, INTEN and
 * INTSTS (docs/sev-firmware.md §1.1-§1.2). Every offset and bit is named here and
 * nowhere else.
 */
import { invalidArgument } from '../util/emu-error.js';

export const PSP_REG = {
  /** The interrupt enable: bit 1 SEV_CMD_COMPLETE. */
  INTEN: 0x10690,
  /** The interrupt status: bit 1 SEV_CMD_COMPLETE; write 1 to clear. */
  INTSTS: 0x10694,
  /** bits 26:16 command id, 15:0 status, 31 RESP, 0 IOC (docs/sev-firmware.md §1.2). */
  CMDRESP: 0x10980,
  /** The command buffer's address, bits 31:0 (C-bit included as Linux writes it). */
  CMDBUFF_ADDR_LO: 0x109e0,
  /** The command buffer's address, bits 63:32. */
  CMDBUFF_ADDR_HI: 0x109e4,
  /** Capabilities (C2PMSG_63): bit 0 SEV; read-only. */
  FEATURE: 0x109fc,
} as const;

export type PspRegName = keyof typeof PSP_REG;

/** The PCI identity of the emulated PSP (pspv4). */
export const PSP_PCI = { vendorId: 0x1022, deviceId: 0x14ca, bar: 2 } as const;

/** CMDRESP bit 0: the host asks for an interrupt on completion (SEV_CMDRESP_IOC). */
export const CMDRESP_IOC = 1;
/** CMDRESP bits 15:0: the firmware's status (PSP_CMDRESP_STS). */
export const CMDRESP_STS_MASK = 0xffff;
/** CMDRESP bits 26:16: the command id (SEV_CMDRESP_CMD, GENMASK(26, 16)). */
export const CMDRESP_CMD_SHIFT = 16;
export const CMDRESP_CMD_MASK = 0x7ff;
/** CMDRESP bit 31: set by the firmware when the command is done (PSP_CMDRESP_RESP); an unsigned value. */
export const CMDRESP_RESP = 2 ** 31;

/** INTEN / INTSTS bit 1: SEV_CMD_COMPLETE. */
export const SEV_CMD_COMPLETE = 1 << 1;
/** FEATURE bit 0: the SEV mailbox is present. */
export const FEATURE_SEV = 1 << 0;

export const READ_ONLY_PSP_REGS: ReadonlySet<number> = new Set([PSP_REG.FEATURE]);

const NAME_BY_OFFSET = new Map<number, PspRegName>(Object.entries(PSP_REG).map(([k, v]) => [v, k as PspRegName]));

/** The register at `offset`, or a misuse error (-32602) naming the six there are. */
export function checkPspRegOffset(offset: number): PspRegName {
  const name = Number.isInteger(offset) ? NAME_BY_OFFSET.get(offset) : undefined;
  if (name === undefined) {
    throw invalidArgument(`offset ${String(offset)} is not a PSP SEV mailbox register; it has 0x10690 INTEN, 0x10694 INTSTS, 0x10980 CMDRESP, 0x109e0 CMDBUFF_ADDR_LO, 0x109e4 CMDBUFF_ADDR_HI, 0x109fc FEATURE`, {
      path: ['offset'],
    });
  }
  return name;
}

/** The word a host writes to issue `command`: the id in bits 26:16, IOC in bit 0. */
export function encodeCmdrespWrite(command: number, ioc: boolean): number {
  return (command & CMDRESP_CMD_MASK) * 2 ** CMDRESP_CMD_SHIFT + (ioc ? CMDRESP_IOC : 0);
}

/** The word the firmware leaves when a command is done: RESP, the id kept, the status. */
export function encodeCmdrespDone(command: number, status: number): number {
  return CMDRESP_RESP + (command & CMDRESP_CMD_MASK) * 2 ** CMDRESP_CMD_SHIFT + (status & CMDRESP_STS_MASK);
}

export interface DecodedCmdresp {
  command: number;
  status: number;
  ioc: boolean;
  resp: boolean;
}

export function decodeCmdresp(value: number): DecodedCmdresp {
  return {
    command: Math.floor(value / 2 ** CMDRESP_CMD_SHIFT) & CMDRESP_CMD_MASK,
    status: value & CMDRESP_STS_MASK,
    ioc: (value & CMDRESP_IOC) !== 0,
    resp: value >= CMDRESP_RESP,
  };
}

/** The 64-bit buffer address from the two address registers (C-bit not yet stripped). */
export function cmdbuffAddrOf(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
