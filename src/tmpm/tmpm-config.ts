/**
 * The TMPM engine's settings (scenario `tmpm`, every default in one block) and the
 * shapes it hands out: its event sink, a fault rule's decision for a command, and
 * what one finished ring entry did.
 */
import type { PdeAccess } from './psmash-io.js';

/** The engine's settings (scenario `tmpm`); every default in DEFAULT_TMPM_CONFIG. */
export interface TmpmConfig {
  /** The engine's requester ID: its DTE and IO_PAGE_FAULTs. */
  deviceId: number;
  /** The IOMMU domain of its DTE. */
  domainId: number;
  /** How the engine reads and writes src_hpmd_paddr: directly, or by DMA through its DTE. */
  pdeAccess: PdeAccess;
  /** Latency of an RBCTL write, ns (then STATUS.TOGGLE flips). */
  ctlNs: number;
  /** Run time of GET_CAPABILITIES and NOOP, ns (a refused command finishes at once). */
  commandNs: number;
  /** support_reg bits 6 and 7; a command whose bit is off is INVALID_COMMAND. */
  psmash: boolean;
  punsmash: boolean;
  /** Our number for PUNSMASH_IO (not public). */
  punsmashCommand: number;
  fwMajor: number;
  fwMinor: number;
}

export const DEFAULT_TMPM_CONFIG: TmpmConfig = {
  deviceId: 0x00a0,
  domainId: 0x00a0,
  pdeAccess: 'direct',
  ctlNs: 2000,
  commandNs: 1000,
  psmash: true,
  punsmash: true,
  punsmashCommand: 0x06,
  fwMajor: 1,
  fwMinor: 0,
};

/** AMD spec #58151 revision 0.51: spec_reg. */
export const SPEC_MAJOR = 0;
export const SPEC_MINOR = 51;

/** Where the engine reports (topic tmpm: commands and interrupts; topic stall). */
export interface TmpmEvents {
  has(topic: 'tmpm' | 'stall'): boolean;
  emit(topic: 'tmpm' | 'stall', atNs: number, data: Record<string, unknown>): void;
}

/** A fault rule firing on a command (fault.add {method: "tmpm.PSMASH_IO"}). */
export interface CommandFault {
  status?: number;
  delayNs: number;
  faultIds: string[];
}

/** What one ring entry did, as the convenience methods return it. */
export interface EntryOutcome {
  index: number;
  command: number;
  commandName: string;
  listSpa: number;
  status: number;
  statusName: string;
  subStatus: number;
  pteError: number;
  pteSubError: number;
  detail?: Record<string, unknown>;
  startNs: number;
  endNs: number;
  stallNs: number;
  dmaHeld: number;
  rmpChanged: boolean;
  hpteSpa?: number;
}
