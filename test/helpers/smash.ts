/**
 * Builders for smash-engine tests: find the IOPDE a walk reaches and prepare the
 * 4 KB table a VMM hands the firmware (PTE i = old IOPDE with address + i x 4 KB).
 */
import type { Platform } from '../../src/platform/platform.js';
import { pteAddressField, withAddress } from '../../src/iommu/pte.js';

export interface SmashSlot {
  iopdeSpa: number;
  iopde: bigint;
}

/** The level-2 entry the walk for `iova` of `deviceId` reads. */
export function findIopde(p: Platform, deviceId: number, iova: bigint): SmashSlot {
  const w = p.m.iommu.walk(deviceId, iova, false);
  const step = w.steps.find((s) => s.level === 2);
  if (step === undefined) throw new Error(`walk for ${iova} reached no level-2 entry`);
  return { iopdeSpa: step.entrySpa, iopde: step.value };
}

/** Allocates a table page and fills it with the 512 PTEs the firmware expects. */
export function prepareSmashTable(p: Platform, iopde: bigint): number {
  const tableSpa = Number(p.memAlloc(1).spa);
  const base = pteAddressField(iopde);
  const values: bigint[] = [];
  for (let i = 0; i < 512; i++) values.push(withAddress(iopde, base + i * 4096));
  p.memWrite64(tableSpa, values);
  return tableSpa;
}

/** Everything a smash of (domain, iova) through `deviceId` needs. */
export function smashParams(p: Platform, deviceId: number, domainId: number, iova: bigint) {
  const { iopdeSpa, iopde } = findIopde(p, deviceId, iova);
  const tableSpa = prepareSmashTable(p, iopde);
  return { domainId, iova, iopdeSpa, tableSpa };
}

/** A snapshot of what a rejected call must leave unchanged. */
export function observable(p: Platform, iopdeSpa: number, regionSpa: number) {
  return {
    iopde: p.m.memory.word(iopdeSpa),
    rmp: JSON.stringify(p.m.rmp.getState()),
    iotlb: JSON.stringify(p.m.iommu.iotlb.getState()),
    nowNs: p.m.clock.nowNs,
    region: p.rmpRead(regionSpa),
  };
}
