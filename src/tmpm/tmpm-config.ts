/**
 * The TMPM engine's settings (scenario `tmpm`, every default in one block), what it
 * is built from (TmpmDeps), and the shapes it hands out: its event sink, a fault
 * rule's decision for a command, and what one finished ring entry did.
 */
import type { VirtualClock } from '../clock/virtual-clock.js';
import type { HostMemory } from '../memory/host-memory.js';
import type { RmpTable } from '../rmp/rmp-table.js';
import type { Iommu } from '../iommu/iommu.js';
import type { DmaEngine } from '../dma/dma-engine.js';
import type { GuestTable } from '../firmware/guests.js';
import type { SeededRng } from '../util/rng.js';
import type { TmpmCommandName } from './commands.js';

/** How the engine reads and writes src_hpmd_paddr: directly, or by DMA through its DTE. */
export type PdeAccess = 'direct' | 'iommu';

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

/**
 * Everything the TMPM is built from (TmpmEngine's one argument): the machine's parts
 * it reads and changes, where it reports, and the two things it asks of the rest of
 * the machine. It builds its own PSMASH_IO / PUNSMASH_IO unit (psmash-io.ts).
 */
export interface TmpmDeps {
  memory: HostMemory;
  rmp: RmpTable;
  /** The smash's checks and invalidations, and pdeAccess iommu's DMA through the engine's DTE. */
  iommu: Iommu;
  /** The stalls a smash begins, and the streams its budget check reads. */
  dma: DmaEngine;
  /** Guest context pages (PSMASH_IO check 3). */
  guests: GuestTable;
  clock: VirtualClock;
  /** The stall model's jitter. */
  rng: SeededRng;
  /** The C-bit position stripped from the addresses the driver gives (null: none). */
  cBit: number | null;
  events: TmpmEvents;
  /** Whether SNP is initialised (the firmware's state): the ring's checks under SNP, PSMASH_IO check 1. */
  snpInitialized(): boolean;
  /** The fault rule firing on a command as it starts (fault.add {method: "tmpm.NAME"}), or null. */
  commandFault(name: TmpmCommandName): CommandFault | null;
  config?: TmpmConfig;
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
