/**
 * The SNP / SEV-TIO firmware's state (protocol/README.md §4.2): SNP and TIO
 * initialised or not, and what the TDI commands tell the IOMMU: the TEE-IO
 * bindings (a TDI in RUN) and the ASID fences. Its
 * commands arrive through the PSP mailbox (src/psp/); the conveniences (fw.*, tio.*)
 * run one at a time through `submit`.
 * Firmware commands run one at a time, in arrival order: each is queued behind the
 * previous one. The smash engine is not a firmware command: it is the TMPM
 * (src/tmpm/).
 */
import type { FwResult } from './status.js';
import { FW_STATUS, fwFail } from './status.js';
import type { GuestTable } from './guests.js';
import type { VirtualClock } from '../clock/virtual-clock.js';

export const REGION_BYTES = 2 * 1024 * 1024;

/**
 * Where the firmware reports its commands (topic fw); the platform hands in its
 * event bus. `has` lets it skip building unwanted events.
 */
export interface FirmwareEvents {
  has(topic: 'fw'): boolean;
  emit(topic: 'fw', atNs: number, data: Record<string, unknown>): void;
}

export interface FirmwareState {
  snpInitialized: boolean;
  tioInitialized: boolean;
  bindings: Array<[number, number]>;
  fences?: Array<[number, number]>;
}

export class Firmware {
  snpInitialized = true;
  tioInitialized = true;
  /** deviceId -> bound guest ASID: a TEE-IO function whose TDI is in RUN (kept by the TDI commands). */
  readonly bindings = new Map<number, number>();
  /** deviceId -> the ASID its DMA is fenced from (TIO_ASID_FENCE_STATUS 3 default-fenced). */
  readonly fences = new Map<number, number>();
  /** Moves on every binding or fence change (the DMA port's version includes it). */
  teeIoVersion = 0;
  /** The IOMMU domain of a device's DTE, or -1 (the platform hands in the IOMMU's answer; TDI_BIND checks host_domain_id with it). */
  deviceDomain: (deviceId: number) => number = () => -1;
  private queue: Promise<unknown> = Promise.resolve();
  /** An injected delay the next submitted command waits for, inside the queue. */
  private nextDelay: Promise<void> | undefined;

  constructor(
    /** The guests (kept in the signature: TDI_BIND names its guest by gctx through the PSP's own table). */
    _guests: GuestTable,
    private readonly clock: VirtualClock,
    private readonly bus: FirmwareEvents,
  ) {}

  /**
   * Runs a firmware command after every earlier one, and reports it on the fw topic.
   * `params` is what the event shows.
   */
  submit<T extends FwResult>(command: string, params: Record<string, unknown>, fn: () => T | Promise<T>): Promise<T> {
    const delay = this.nextDelay;
    this.nextDelay = undefined;
    const run = delay === undefined ? fn : () => delay.then(fn);
    const p = this.queue.then(run).then((result) => {
      if (this.bus.has('fw')) this.bus.emit('fw', this.clock.nowNs, { command, params, result });
      return result;
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  /**
   * Makes the next command a slow one (fault.add delayMs / delayNs on a fw.* method):
   * when its turn comes it waits until `delay` (started at its arrival) settles,
   * holding the firmware, so it is under way meanwhile (later commands queue behind it).
   */
  delayNextCommand(delay: Promise<void>): void {
    this.nextDelay = delay;
  }

  /** Guest ASID a device is bound to (its TDI in RUN), or -1 for an untrusted device. */
  boundAsid(deviceId: number): number {
    return this.bindings.get(deviceId) ?? -1;
  }

  /** The ASID a device's DMA is fenced from (after an unbind or a TDI ERROR, until FENCE_CLEAR), or -1. */
  fencedAsid(deviceId: number): number {
    return this.fences.get(deviceId) ?? -1;
  }

  /**
   * What the TDI commands tell the IOMMU: a TDI entering RUN binds its function to
   * the ASID (and lifts a fence of it); one leaving RUN or LOCKED fences it. The
   * version moves, so a DMA fast path's memo of checked pages is dropped.
   */
  setBinding(deviceId: number, asid: number | null): void {
    if (asid === null) this.bindings.delete(deviceId);
    else this.bindings.set(deviceId, asid);
    this.teeIoVersion++;
  }

  setFence(deviceId: number, asid: number | null): void {
    if (asid === null) this.fences.delete(deviceId);
    else this.fences.set(deviceId, asid);
    this.teeIoVersion++;
  }

  getState(): FirmwareState {
    return {
      snpInitialized: this.snpInitialized,
      tioInitialized: this.tioInitialized,
      bindings: [...this.bindings.entries()].sort((a, b) => a[0] - b[0]),
      fences: [...this.fences.entries()].sort((a, b) => a[0] - b[0]),
    };
  }

  setState(state: FirmwareState): void {
    this.snpInitialized = state.snpInitialized;
    this.tioInitialized = state.tioInitialized;
    this.bindings.clear();
    for (const [d, a] of state.bindings) this.bindings.set(d, a);
    this.fences.clear();
    for (const [d, a] of state.fences ?? []) this.fences.set(d, a);
    this.teeIoVersion++;
  }

  /** Check 1 of every TIO command: SNP and TIO initialised. */
  checkInitialised(): FwResult | null {
    if (this.snpInitialized && this.tioInitialized) return null;
    return fwFail(FW_STATUS.INVALID_PLATFORM_STATE, {
      reason: 'SNP and TIO must be initialised (fw.init)',
      snpInitialized: this.snpInitialized,
      tioInitialized: this.tioInitialized,
    });
  }
}

export function hexId(id: number): string {
  return '0x' + id.toString(16).padStart(4, '0');
}
