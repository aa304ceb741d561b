/**
 * How platform objects look to clients (results and event data alike): addresses as
 * bigint (hex on the wire), event words as eight hex digits each (protocol/README.md
 * §2). One place, so iommu.events and the iommu topic cannot disagree.
 */
import type { LoggedEvent } from '../iommu/event-log.js';
import type { RmpRead } from '../rmp/rmp-table.js';
import { decodeDte } from '../iommu/dte.js';
import type { IotlbEntry } from '../iommu/iotlb.js';
import type { WalkResult } from '../iommu/page-walker.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
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

/** iommu.readDte: the raw qwords and the fields decoded from them. */
export function dteView(qwords: bigint[]) {
  const d = decodeDte(qwords);
  return { qwords, valid: d.valid, translationValid: d.translationValid, mode: d.mode, root: BigInt(d.root), read: d.read, write: d.write, domainId: d.domainId };
}

/** iommu.walk: every level read, and where the walk ended. */
export function walkView(w: WalkResult) {
  // A permission fault still reached a leaf: show where it points.
  const reachedLeaf = w.ok || w.sizeLg2 > 0;
  return {
    ok: w.ok,
    spa: reachedLeaf ? BigInt(w.spa) : null,
    sizeLg2: reachedLeaf ? w.sizeLg2 : null,
    read: w.read,
    write: w.write,
    steps: w.steps.map((s) => ({ level: s.level, entrySpa: BigInt(s.entrySpa), value: s.value })),
    fault: w.fault ? { type: w.fault.type, typeName: w.fault.typeName, reason: w.fault.reason } : null,
  };
}

/** iommu.iotlb: one cached translation, for the page it serves. */
export function iotlbEntryView(e: IotlbEntry) {
  return {
    domainId: e.domainId,
    iova: BigInt(e.iovaPfn) * 4096n,
    spa: BigInt((e.leafSpaBasePfn + (e.iovaPfn - e.leafIovaBasePfn)) * PAGE_BYTES),
    sizeLg2: e.leafSizeLg2,
    read: e.read,
    write: e.write,
  };
}
