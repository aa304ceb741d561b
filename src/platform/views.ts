/**
 * How platform objects look to clients (results and event data alike): addresses as
 * bigint (hex on the wire), event words as eight hex digits each (protocol/README.md
 * §2). One place, so iommu.events and the iommu topic cannot disagree.
 */
import type { LoggedEvent } from '../iommu/event-log.js';
import type { RmpRead } from '../rmp/rmp-table.js';
import { toHex32 } from '../util/hex.js';

export function eventView(e: LoggedEvent) {
  return {
    seq: e.seq,
    type: e.type,
    typeName: e.typeName,
    deviceId: e.deviceId,
    domainId: e.domainId < 0 ? null : e.domainId,
    address: e.address,
    write: e.write,
    atNs: e.atNs,
    words: e.words.map(toHex32),
    ...(e.rmpFlags !== undefined ? { rmpFlags: e.rmpFlags } : {}),
    ...(e.vmgTag !== undefined ? { vmgTag: e.vmgTag } : {}),
  };
}

export function rmpEntryView(e: RmpRead) {
  return { ...e, entrySpa: BigInt(e.entrySpa), gpa: BigInt(e.gpa) };
}
