/**
 * The SNP / SEV-TIO firmware's state (protocol/README.md §4.2): SNP and TIO
 * initialised or not, and TEE-IO bindings (TDI_BIND 0xDC / TDI_UNBIND 0xDD). Its
 * commands arrive through the PSP mailbox (src/psp/); the conveniences (fw.*, tio.*)
 * run one at a time through `submit`.
 * Firmware commands run one at a time, in arrival order: each is queued behind the
 * previous one. The smash engine is not a firmware command: it is the TMPM
 * (src/tmpm/).
 */
import type { FwResult } from './status.js';
import { FW_STATUS, fwFail, fwOk } from './status.js';
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
}

export class Firmware {
  snpInitialized = true;
  tioInitialized = true;
  /** deviceId -> bound guest ASID (TEE-IO functions). */
  readonly bindings = new Map<number, number>();
  private queue: Promise<unknown> = Promise.resolve();
  /** An injected delay the next submitted command waits for, inside the queue. */
  private nextDelay: Promise<void> | undefined;

  constructor(
    private readonly guests: GuestTable,
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

  tdiBind(deviceId: number, asid: number): Promise<FwResult> {
    return this.submit('fw.tdiBind', { deviceId, asid }, () => {
      const notReady = this.checkInitialised();
      if (notReady) return notReady;
      if (!this.guests.has(asid)) return fwFail(FW_STATUS.INVALID_ASID, { reason: `no SNP guest with ASID ${asid}`, asid });
      const bound = this.bindings.get(deviceId);
      if (bound !== undefined) return fwFail(FW_STATUS.INVALID_TDI_STATE, { reason: `device ${hexId(deviceId)} is already bound to ASID ${bound}`, deviceId, asid: bound });
      this.bindings.set(deviceId, asid);
      return fwOk({});
    });
  }

  tdiUnbind(deviceId: number): Promise<FwResult> {
    return this.submit('fw.tdiUnbind', { deviceId }, () => {
      const notReady = this.checkInitialised();
      if (notReady) return notReady;
      if (!this.bindings.has(deviceId)) return fwFail(FW_STATUS.INVALID_TDI_STATE, { reason: `device ${hexId(deviceId)} is not bound`, deviceId });
      this.bindings.delete(deviceId);
      return fwOk({});
    });
  }

  /** Guest ASID a device is bound to, or -1 for an untrusted device. */
  boundAsid(deviceId: number): number {
    return this.bindings.get(deviceId) ?? -1;
  }

  getState(): FirmwareState {
    return {
      snpInitialized: this.snpInitialized,
      tioInitialized: this.tioInitialized,
      bindings: [...this.bindings.entries()].sort((a, b) => a[0] - b[0]),
    };
  }

  setState(state: FirmwareState): void {
    this.snpInitialized = state.snpInitialized;
    this.tioInitialized = state.tioInitialized;
    this.bindings.clear();
    for (const [d, a] of state.bindings) this.bindings.set(d, a);
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
