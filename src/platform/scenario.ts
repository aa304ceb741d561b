/**
 * A scenario describes a platform to build (plain typed values; the JSON file form
 * is parsed and validated by protocol/scenario-schema.ts). Building one goes
 * through the operations a VMM would use: RMPUPDATE, PVALIDATE, iommu map, TDI bind.
 */
import type { RmpSizeRule } from '../iommu/rmp-check.js';
import type { MapRequest } from '../iommu/mapper.js';
import type { StreamParams } from '../dma/dma-stream.js';
import { DEFAULT_STALL_MODEL, type StallModel } from '../tmpm/stall-model.js';
import { DEFAULT_TMPM_CONFIG, type TmpmConfig } from '../tmpm/tmpm-config.js';
import { DEFAULT_IOTLB_ENTRIES } from '../iommu/iotlb.js';
import { DEFAULT_PSP_CONFIG, DEFAULT_TIO_SIZES, type TioSizes } from '../psp/psp-config.js';

/** The stall model a scenario starts with (protocol/README.md §4.5). */
export type ScenarioStallModel = StallModel;
export { DEFAULT_STALL_MODEL };

export interface ScenarioGuestRange {
  gpa: number;
  spa: number;
  /** Bytes, a multiple of 4 KB. */
  length: number;
  /**
   * RMP state the builder gives the range: assigned to the guest as 2 MB or 4 KB
   * pages (validated when `validated`), or left hypervisor-owned (`none`).
   */
  rmp: '2M' | '4K' | 'none';
  validated: boolean;
}

export interface ScenarioGuest {
  asid: number;
  ranges: ScenarioGuestRange[];
}

/** An IOMMU mapping the builder makes with iommu.map (every field given). */
export type ScenarioMapping = Required<MapRequest>;

export interface ScenarioDevice {
  deviceId: number;
  domainId: number;
  /** Bound as a TEE-IO function to this guest ASID: fw.tdiBind's firmware commands run at build, before time 0 (protocol/README.md §4.7.5); absent = untrusted. */
  boundAsid?: number;
  /** DTE mode; the builder raises it when a mapping needs more. Default 3. */
  mode: number;
  /** TEE-IO capable: a DOE mailbox answering SPDM, and the PSP may create a device context for it. Absent = true. */
  teeIo?: boolean;
  mappings: ScenarioMapping[];
}

export interface ScenarioRmpUpdate {
  spa: number;
  /** Number of consecutive pages of `pageSize` to update (default 1). */
  count: number;
  assigned: boolean;
  pageSize: '4K' | '2M';
  asid: number;
  gpa: number;
  immutable: boolean;
  validated: boolean;
}

/**
 * The TMPM engine (protocol/README.md §4.3; §4.3.2 for the bring-up): its settings
 * and whether the builder brings it up as the host driver would (a ring in a
 * Hypervisor-Fixed 2 MB-aligned pool page, INIT applied), or leaves it for the
 * client's own driver.
 */
export interface ScenarioTmpm extends TmpmConfig {
  initialised: boolean;
}

/** The PSP's SEV mailbox (protocol/README.md §4.6): command run times and the firmware's version. */
export interface ScenarioPsp {
  cmdNs: number;
  commandNs: Record<string, number>;
  apiMajor: number;
  apiMinor: number;
  buildId: number;
}

/** SEV-TIO (protocol/README.md §4.6): supported or not, and the sizes TIO_STATUS reports. */
export interface ScenarioTio extends TioSizes {
  supported: boolean;
}

/** A DMA stream the builder starts (dma.startStream, every field given). */
export type ScenarioStream = Required<StreamParams>;

export interface Scenario {
  name: string;
  memoryBytes: number;
  seed: number;
  clock: { mode: 'virtual' | 'realtime'; speed: number };
  firmware: { snpInit: boolean; tioInit: boolean };
  rmpSizeRule: RmpSizeRule;
  eventLogEntries: number;
  serviceNs: number;
  maxAdvanceNs: number;
  /** IOTLB capacity in entries (a power of two, 8..2^24): 2^19. */
  iotlbEntries: number;
  /** C-bit position stripped from IOMMU table and leaf addresses (hardware.md §7 item 12); null = none. */
  cBit: number | null;
  guests: ScenarioGuest[];
  /** Explicit RMP updates, applied after the guests' ranges (mixed 4 KB / 2 MB layouts). */
  rmpUpdates: ScenarioRmpUpdate[];
  devices: ScenarioDevice[];
  stallModel: ScenarioStallModel;
  tmpm: ScenarioTmpm;
  psp: ScenarioPsp;
  tio: ScenarioTio;
  streams: ScenarioStream[];
}

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/**
 * The default scenario (protocol/README.md §13: the file
 * examples/scenarios/default.json, which a test checks equals this): 64 GiB; SNP and
 * TIO initialised; guest ASID 1 with 1 GiB private at GPA 0 backed by SPA
 * 0x100000000, assigned as validated 2 MB pages; device 0x0100 bound to ASID 1 in
 * domain 1, IOVA 0-1 GiB mapped with 2 MB leaves; untrusted device 0x0200 in domain
 * 2, IOVA 0-64 MiB mapped with 4 KB leaves to a hypervisor buffer at SPA 0x80000000;
 * both DTEs mode 3; the guest's context page and the TMPM (device 0x00A0,
 * initialised, its ring in a Hypervisor-Fixed 2 MB-aligned page) placed by the
 * builder; no stream; virtual clock; seed 1.
 */
export const DEFAULT_SCENARIO: Scenario = {
  name: 'default',
  memoryBytes: 64 * GiB,
  seed: 1,
  clock: { mode: 'virtual', speed: 1 },
  firmware: { snpInit: true, tioInit: true },
  rmpSizeRule: 'equal',
  eventLogEntries: 512,
  serviceNs: 500,
  maxAdvanceNs: 10_000_000_000,
  iotlbEntries: DEFAULT_IOTLB_ENTRIES,
  cBit: 51,
  guests: [{ asid: 1, ranges: [{ gpa: 0, spa: 0x1_0000_0000, length: GiB, rmp: '2M', validated: true }] }],
  rmpUpdates: [],
  devices: [
    {
      deviceId: 0x0100,
      domainId: 1,
      boundAsid: 1,
      mode: 3,
      teeIo: true,
      mappings: [{ iova: 0n, spa: 0x1_0000_0000, length: GiB, sizeLg2: 21, read: true, write: true, fc: false }],
    },
    {
      deviceId: 0x0200,
      domainId: 2,
      mode: 3,
      teeIo: true,
      mappings: [{ iova: 0n, spa: 0x8000_0000, length: 64 * MiB, sizeLg2: 12, read: true, write: true, fc: false }],
    },
  ],
  stallModel: DEFAULT_STALL_MODEL,
  tmpm: { ...DEFAULT_TMPM_CONFIG, initialised: true },
  psp: { cmdNs: DEFAULT_PSP_CONFIG.cmdNs, commandNs: {}, apiMajor: DEFAULT_PSP_CONFIG.apiMajor, apiMinor: DEFAULT_PSP_CONFIG.apiMinor, buildId: DEFAULT_PSP_CONFIG.buildId },
  tio: { supported: true, ...DEFAULT_TIO_SIZES },
  streams: [],
};
