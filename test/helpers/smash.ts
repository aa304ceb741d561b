/**
 * Builders for TMPM smash tests, written from the vectors and protocol/README.md
 * (§4.3.5-4.3.7) rather than from src/: find the level-2 entry a walk reaches,
 * pre-fill the 512 PTEs as AMD's driver does (low 12 bits 0x001, address old +
 * i x 4 KB, bits 63:52 copied), and gather PSMASH_IO's four addresses.
 */
import type { Platform } from '../../src/platform/platform.js';

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

/** PTE i of the driver's pre-fill for old 2 MB leaf `old` (tmpm.json vectors). */
export function prefillPte(old: bigint, i: number): bigint {
  return (old & 0xfff0_0000_0000_0000n) | ((old & 0x000f_ffff_ffff_f000n) + BigInt(i) * 0x1000n) | 1n;
}

/** Allocates a page and fills it with the 512 PTEs PSMASH_IO expects. */
export function prepareSmashTable(p: Platform, iopde: bigint): number {
  const tableSpa = Number(p.memAlloc(1).spa);
  const values: bigint[] = [];
  for (let i = 0; i < 512; i++) values.push(prefillPte(iopde, i));
  p.memWrite64(tableSpa, values);
  return tableSpa;
}

/** The gctx page of guest `asid` (emu.info). */
export function gctxOf(p: Platform, asid = 1): bigint {
  const g = p.info().guests.find((x) => x.asid === asid);
  if (g === undefined || g.gctxSpa === null) throw new Error(`guest ${asid} has no context page`);
  return g.gctxSpa;
}

export interface PsmashArgs {
  srcPgSpa: bigint;
  smashHpteSpa: bigint;
  srcHpmdSpa: bigint;
  gctxSpa: bigint;
}

/** PSMASH_IO's four addresses for the 2 MB leaf at `iova` of `deviceId`. */
export function psmashArgs(p: Platform, deviceId: number, iova: bigint, asid = 1): PsmashArgs {
  const { iopdeSpa, iopde } = findIopde(p, deviceId, iova);
  return {
    srcPgSpa: iopde & 0x000f_ffff_ffe0_0000n,
    smashHpteSpa: BigInt(prepareSmashTable(p, iopde)),
    srcHpmdSpa: BigInt(iopdeSpa),
    gctxSpa: gctxOf(p, asid),
  };
}

/** A snapshot of what a refused command must leave unchanged. */
export function observable(p: Platform, iopdeSpa: number, regionSpa: number) {
  return {
    iopde: p.m.memory.word(iopdeSpa),
    rmp: JSON.stringify(p.m.rmp.getState()),
    iotlb: JSON.stringify(p.m.iommu.iotlb.getState()),
    region: p.rmpRead(regionSpa),
    stalls: p.dmaStats({}).stalls.length,
  };
}
