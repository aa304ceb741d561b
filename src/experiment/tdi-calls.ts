/**
 * THE one place where the experiment runner drives a TEE-IO device's TDI: one
 * bind/unbind cycle through the firmware conveniences (fw.tdiUnbind, tio.fenceClear,
 * fw.tdiBind), with the DMA stream's statistics read around the unbound stretch.
 */
import type { Platform } from '../platform/platform.js';

export interface TdiCycleOutcome {
  ok: boolean;
  /** RMP faults of the stream from the unbind's end to the rebind's start (fenced, then untrusted). */
  unboundFaults: number;
  /** Requests that completed in that stretch: DMA that leaked past the fence (0 expected). */
  unboundCompleted: number;
}

/** Unbind (the device's DMA to the guest fenced), `wait`, clear the fence, bind again (RUN). */
export async function tdiCycle(p: Platform, deviceId: number, streamId: string, wait: () => Promise<void>): Promise<TdiCycleOutcome> {
  const asid = p.m.firmware.boundAsid(deviceId);
  if (asid < 0) return { ok: false, unboundFaults: 0, unboundCompleted: 0 };
  const u = await p.fwTdiUnbind(deviceId);
  const before = p.dmaStats({ streamId });
  await wait();
  const c = await p.tioFenceClear(deviceId, asid);
  // Read before the bind: once the TDI is back in RUN (within the bind) completions are legitimate again.
  const after = p.dmaStats({ streamId });
  const b = await p.fwTdiBind(deviceId, asid);
  return { ok: u.status === 0 && c.status === 0 && b.status === 0, unboundFaults: after.rmpFaults - before.rmpFaults, unboundCompleted: after.completed - before.completed };
}
