/**
 * Preparing a smash over the wire, as a VMM does before it calls fw.smashIopde:
 * find the IOPDE (the level-2 entry the IOMMU walk for the 2 MB IOVA reaches), take
 * a hypervisor-owned page from the pool, and fill it with the 512 PTEs the firmware
 * checks (the old IOPDE with address + i x 4 KB).
 */
import type { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { hex } from './format.js';
import { smashTablePtes } from './iommu-bits.js';

export interface SmashPlan {
  domainId: number;
  /** 2 MB-aligned IOVA (the guest GPA for a TEE-IO device). */
  iova: bigint;
  /** SPA of the 8-byte level-2 entry. */
  iopdeSpa: bigint;
  /** Its value: a present 2 MB leaf (NextLevel 0). */
  iopde: bigint;
  /** SPA of the prepared 4 KB table of 512 PTEs. */
  tableSpa: bigint;
}

/** Walks `deviceId`'s tables for `iova` and returns the level-2 entry. */
export async function findIopde(client: SmashEmuClient, deviceId: number, iova: bigint): Promise<{ iopdeSpa: bigint; iopde: bigint }> {
  const walk = await client.call('iommu.walk', { deviceId, iova: hex(iova) });
  const l2 = walk.steps.find((s) => s.level === 2);
  if (l2 === undefined) throw new Error(`the walk of device ${hex(deviceId)} for IOVA ${hex(iova)} reached no level-2 entry (${walk.fault?.reason ?? 'no fault'})`);
  return { iopdeSpa: BigInt(l2.entrySpa), iopde: BigInt(l2.value) };
}

/** Everything fw.smashIopde needs for the 2 MB region at `iova` of `deviceId`'s domain. */
export async function prepareSmash(client: SmashEmuClient, deviceId: number, domainId: number, iova: bigint): Promise<SmashPlan> {
  const { iopdeSpa, iopde } = await findIopde(client, deviceId, iova);
  const { spa } = await client.call('mem.alloc', { pages: 1 });
  const tableSpa = BigInt(spa);
  await client.call('mem.write64', { spa, values: smashTablePtes(iopde).map(hex) });
  return { domainId, iova, iopdeSpa, iopde, tableSpa };
}

/** The wire params of fw.smashIopde for a plan. */
export function smashParams(plan: SmashPlan) {
  return { domainId: plan.domainId, iova: hex(plan.iova), iopdeSpa: hex(plan.iopdeSpa), tableSpa: hex(plan.tableSpa) };
}
