/**
 * The TMPM mailbox: eight 32-bit registers at byte offsets (docs/hardware.md §2.4,
 * from AMD's drivers/dma/tmpm/main.h). Every register offset and bit is named here
 * and nowhere else.
 */
import { invalidArgument } from '../util/emu-error.js';

export const TMPM_REG = {
  /** bit 0 PAUSE, bit 1 INIT; reads back what was last written. */
  RBCTL: 0x00,
  /** bits 15:0 the engine's tail index (31:16 named ASID, read as 0); read-only. */
  RBTAIL: 0x04,
  /** bits 15:0 the driver's head index; write-only, reads 0. */
  RBHEAD: 0x08,
  /** bits 7:0 ring size in 4 KB pages, 1-16 (256 entries a page). */
  CDATA: 0x0c,
  /** Ring base SPA, bits 31:0. */
  RBLOW: 0x10,
  /** Ring base SPA, bits 63:32. */
  RBHIGH: 0x14,
  /** Stored, no effect. */
  THRESH: 0x18,
  /** bit 0 ENGINE_READY, 1 DRIVER_INIT, 25 RB_ERR, 26 WPTR_ERR, 31 TOGGLE; read-only. */
  STATUS: 0x1c,
} as const;

export type TmpmRegName = keyof typeof TMPM_REG;

export const RBCTL_PAUSE = 1 << 0;
export const RBCTL_INIT = 1 << 1;

export const STATUS_ENGINE_READY = 1 << 0;
export const STATUS_DRIVER_INIT = 1 << 1;
export const STATUS_RB_ERR = 1 << 25;
export const STATUS_WPTR_ERR = 1 << 26;
/** Bit 31: written as an unsigned value (2^31), never as a negative int32. */
export const STATUS_TOGGLE = 2 ** 31;

/** RBTAIL / RBHEAD index field, bits 15:0. */
export const RING_INDEX_MASK = 0xffff;
/** CDATA ring size field, bits 7:0. */
export const CDATA_PAGES_MASK = 0xff;
export const MAX_RING_PAGES = 16;
/**
 * RBCTL writes waiting for their control latency (`ctlNs`). Not a hardware number: a
 * driver has one or two in flight; the cap keeps a client from queueing without
 * bound before it advances the clock (EMU_LIMIT past it).
 */
export const MAX_PENDING_CTL_WRITES = 64;

export const READ_ONLY_REGS: ReadonlySet<number> = new Set([TMPM_REG.RBTAIL, TMPM_REG.STATUS]);

const NAME_BY_OFFSET = new Map<number, TmpmRegName>(Object.entries(TMPM_REG).map(([k, v]) => [v, k as TmpmRegName]));

/** The register at `offset`, or undefined for an offset the mailbox does not have. */
export function regName(offset: number): TmpmRegName | undefined {
  return NAME_BY_OFFSET.get(offset);
}

export interface DecodedStatus {
  engineReady: boolean;
  driverInit: boolean;
  rbErr: boolean;
  wptrErr: boolean;
  toggle: boolean;
}

export function encodeStatus(s: DecodedStatus): number {
  return (s.engineReady ? STATUS_ENGINE_READY : 0) + (s.driverInit ? STATUS_DRIVER_INIT : 0) + (s.rbErr ? STATUS_RB_ERR : 0) + (s.wptrErr ? STATUS_WPTR_ERR : 0) + (s.toggle ? STATUS_TOGGLE : 0);
}

export function decodeStatus(value: number): DecodedStatus {
  return {
    engineReady: (value & STATUS_ENGINE_READY) !== 0,
    driverInit: (value & STATUS_DRIVER_INIT) !== 0,
    rbErr: (value & STATUS_RB_ERR) !== 0,
    wptrErr: (value & STATUS_WPTR_ERR) !== 0,
    toggle: value >= STATUS_TOGGLE,
  };
}

/** The register at `offset`, or a misuse error naming the eight there are. */
export function checkRegOffset(offset: number): TmpmRegName {
  const name = Number.isInteger(offset) ? regName(offset) : undefined;
  if (name === undefined) {
    throw invalidArgument(`offset ${String(offset)} is not a TMPM register; the mailbox has 0x00 RBCTL, 0x04 RBTAIL, 0x08 RBHEAD, 0x0c CDATA, 0x10 RBLOW, 0x14 RBHIGH, 0x18 THRESH, 0x1c STATUS`, { path: ['offset'] });
  }
  return name;
}

export function decodeRbctl(value: number): { pause: boolean; init: boolean } {
  return { pause: (value & RBCTL_PAUSE) !== 0, init: (value & RBCTL_INIT) !== 0 };
}

/** The ring base from RBLOW / RBHIGH (C-bit not yet stripped). */
export function ringBaseOf(rblow: number, rbhigh: number): number {
  return rbhigh * 2 ** 32 + rblow;
}
