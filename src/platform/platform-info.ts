/**
 * emu.info: what a client sees of one platform's machine and settings (addresses
 * as bigint; hex on the wire).
 */
import type { Machine } from './machine.js';
import { VERSION } from './version.js';

export function platformInfo(m: Machine, name: string, scenarioName: string) {
  const s = m.settings;
  return {
    name: 'smash-emu',
    version: VERSION,
    platform: name,
    scenario: scenarioName,
    deviceTableSpa: BigInt(m.iommu.deviceTableSpa),
    clockMode: m.clock.mode,
    speed: m.clock.speed,
    nowNs: m.clock.nowNs,
    config: {
      memoryBytes: BigInt(s.memoryBytes),
      seed: s.seed,
      eventLogEntries: s.eventLogEntries,
      serviceNs: s.serviceNs,
      maxAdvanceNs: s.maxAdvanceNs,
      iotlbEntries: m.iommu.iotlb.capacity,
      rmpSizeRule: s.rmpSizeRule,
      iotlbHitNs: s.timing.iotlbHitNs,
      walkLevelNs: s.timing.walkLevelNs,
      cBit: s.cBit,
      poolBaseSpa: BigInt(m.pool.baseSpa),
      poolEndSpa: BigInt(m.pool.endSpa),
    },
    guests: m.guests.list().map((g) => ({ asid: g.asid, gctxSpa: g.gctxSpa >= 0 ? BigInt(g.gctxSpa) : null })),
    tmpm: {
      deviceId: m.tmpm.config.deviceId,
      domainId: m.tmpm.config.domainId,
      pdeAccess: m.tmpm.config.pdeAccess,
      initialised: m.tmpm.isInitialised,
      ringSpa: m.tmpm.isInitialised ? BigInt(m.tmpm.ringSpa) : null,
      ringEntries: m.tmpm.ringEntries,
      punsmashCommand: m.tmpm.config.punsmashCommand,
    },
  };
}
