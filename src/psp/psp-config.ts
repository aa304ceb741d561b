/**
 * The PSP's settings (scenario `psp` and `tio`, every default in one block) and
 * what a command run can see and change (CommandContext).
 */
import type { HostMemory } from '../memory/host-memory.js';
import type { RmpTable } from '../rmp/rmp-table.js';
import type { GuestTable } from '../firmware/guests.js';
import type { Firmware } from '../firmware/firmware.js';

export interface TioSizes {
  spdmReqSizeMin: number;
  spdmReqSizeMax: number;
  spdmScratchSizeMin: number;
  spdmScratchSizeMax: number;
  spdmOutSizeMin: number;
  spdmOutSizeMax: number;
  spdmRspSizeMin: number;
  spdmRspSizeMax: number;
  devctxSize: number;
  tdictxSize: number;
}

export interface PspConfig {
  /** How long a command runs, ns: it completes when the clock reaches start + cmdNs. */
  cmdNs: number;
  /** Per-command run times by name (`TIO_DEV_CONNECT: 50000`), overriding cmdNs. */
  commandNs: Record<string, number>;
  /** The firmware's API version (SNP_PLATFORM_STATUS, SEV PLATFORM_STATUS); Linux needs >= 1.52 for SNP_INIT_EX. */
  apiMajor: number;
  apiMinor: number;
  buildId: number;
  /** SNP_FEATURE_INFO EBX bit 1 (SEV_TIO_SUPPORTED); false: SNP_INIT_EX tio_en is UNSUPPORTED and TIO commands INVALID_COMMAND. */
  tioSupported: boolean;
  /** The sizes TIO_STATUS reports (bytes). */
  tio: TioSizes;
  /** TEE-IO capable devices (they have a DOE mailbox and may get a device context). */
  tioDevices: number[];
}

const KiB = 1024;

export const DEFAULT_TIO_SIZES: TioSizes = {
  spdmReqSizeMin: 4 * KiB,
  spdmReqSizeMax: 16 * KiB,
  spdmScratchSizeMin: 16 * KiB,
  spdmScratchSizeMax: 64 * KiB,
  spdmOutSizeMin: 16 * KiB,
  spdmOutSizeMax: 64 * KiB,
  spdmRspSizeMin: 4 * KiB,
  spdmRspSizeMax: 16 * KiB,
  devctxSize: 8 * KiB,
  tdictxSize: 4 * KiB,
};

export const DEFAULT_PSP_CONFIG: PspConfig = {
  cmdNs: 10_000,
  commandNs: {},
  apiMajor: 1,
  apiMinor: 55,
  buildId: 0,
  tioSupported: true,
  tio: DEFAULT_TIO_SIZES,
  tioDevices: [],
};

/** A live TIO device context (TIO_DEV_CREATE until TIO_DEV_RECLAIM). */
export interface DevCtx {
  deviceId: number;
  /** Its DATA pages (SPAs); the first names it. */
  pages: number[];
  state: 'created' | 'connected';
  /** The SPDM session of a connected device. */
  sessionId: number | null;
  /** ide_stream_id[0] of the connect (TC0). */
  ideStreamId: number;
  /** The certificate chain DEV_CONNECT read (GET_CERTIFICATE), hex; absent for a context the build connected. */
  certChain?: string;
  /** The measurement record the last DEV_MEASUREMENTS read, hex (the meas digest's bytes); absent until one succeeds. */
  measurements?: string;
}

/** An SPDM exchange the firmware is in the middle of (it answered SPDM_REQUEST). */
export interface Exchange {
  /** The context's first page. */
  ctxSpa: number;
  command: number;
  /** The step of the plan (tio-exchange.ts) and its repetition. */
  step: number;
  sub: number;
  /** The request's code, and whether it was secured. */
  requestCode: number;
  securedRequest: boolean;
  /** The certificate chain read so far, hex. */
  cert: string;
  reqSessionId: number;
  sessionId: number | null;
}

export interface TioFirmwareState {
  /** SNP_INIT_EX was given tio_en. */
  tioEn: boolean;
  contexts: DevCtx[];
  exchange: Exchange | null;
  /** Live TDI contexts (TIO_TDI_CREATE until TIO_TDI_RECLAIM). */
  tdis: TdiCtx[];
}

/** A live TDI context: one interface (PCIe function) of a device context, and its TDISP state as the firmware tracks it. */
export interface TdiCtx {
  /** The device context's device id (its RID). */
  ctxDeviceId: number;
  /** INTERFACE_ID.FUNCTION_ID bits 15:0: the RID whose DMA the TDI's state governs. */
  functionId: number;
  /** Its DATA pages (SPAs); the first names it. */
  pages: number[];
  state: 'CONFIG_UNLOCKED' | 'CONFIG_LOCKED' | 'RUN' | 'ERROR';
  /** The guest of the bind (from gctx_paddr), or null while unbound. */
  asid: number | null;
  guestDeviceId: number;
  lockFlags: number;
  /** START_INTERFACE_NONCE from the device's LOCK_INTERFACE_RESPONSE, hex. */
  nonce: string;
  /** The last interface report read, hex, and how many were read. */
  report: string;
  reportCounter: number;
}

export interface CommandOutcome {
  status: number;
  detail?: Record<string, unknown>;
}

/** What a command's run sees: the machine below it and the firmware's state. */
export interface CommandContext {
  memory: HostMemory;
  rmp: RmpTable;
  guests: GuestTable;
  firmware: Firmware;
  config: PspConfig;
  tio: TioFirmwareState;
  /** An address as the firmware uses it: the C-bit stripped (one past 2^53 reads as unsafe, outside memory). */
  strip(v: bigint): number;
  /** Reports an SPDM step on topic psp. */
  spdmStep(data: Record<string, unknown>): void;
  /** Draws 32 bits from the platform's PRNG (session ids, keys). */
  rand32(): number;
  /** The chain in a device's slot 0: for a context the build connected without an exchange (no chain recorded). */
  certChainOf(deviceId: number): Uint8Array;
}
