/**
 * The buffers the `tio.*` conveniences hold per device as Linux's driver does
 * (docs/sev-firmware.md §2.5, §3.2): the device context and the four SPDM buffers,
 * each as its DATA pages and, past one page, a SCATTER page listing them. Kept in
 * state documents, so a platform restored mid-life can still disconnect.
 */
export interface HostBuffer {
  /** DATA pages, in order (one allocation). */
  spa: number;
  pages: number;
  /** The SCATTER page (a pool page of its own), or null for a one-page buffer. */
  scatterSpa: number | null;
  /** Firmware-owned (RMP Assigned, ASID 0, Immutable) rather than hypervisor-owned. */
  firmware: boolean;
}

export interface TioHostDevice {
  deviceId: number;
  devCtx: HostBuffer;
  /** req, resp, scratch, output; null until a connect or disconnect needs them. */
  ctrl: { req: HostBuffer; resp: HostBuffer; scratch: HostBuffer; output: HostBuffer } | null;
  /** The TDI contexts the conveniences created (fw.tdiBind), by function. */
  tdis?: Array<{ functionId: number; tdiCtx: HostBuffer }>;
}

export class TioHost {
  readonly devices = new Map<number, TioHostDevice>();

  getState(): TioHostDevice[] {
    return [...this.devices.values()].sort((a, b) => a.deviceId - b.deviceId).map((d) => structuredClone(d));
  }

  setState(s: TioHostDevice[]): void {
    this.devices.clear();
    for (const d of s) this.devices.set(d.deviceId, structuredClone(d));
  }
}
