/**
 * emu.audit (protocol/README.md §12): what a VMM engineer wants to
 * know is wrong with the platform as it stands:
 * - `leaf-size-mismatch`: a TEE-IO leaf whose size breaks the RMP size rule for an
 *   assigned page under it (the IOMMU RMP check would fail DMA there);
 * - `untrusted-large-leaf`: an untrusted device's leaf larger than 4 KB covering an
 *   assigned page (why upstream Linux uses 4 KB IOPTEs with the RMP);
 * - `stale-iotlb`: a cached translation whose SPA, permissions or leaf size differ
 *   from a fresh walk (a VMM forgot to invalidate);
 * - `table-page-not-hypervisor-owned`: a live page-table page assigned in the RMP;
 * - `invariant`: a broken internal invariant of the emulator itself.
 */
import type { Machine } from './machine.js';
import { collectTablePages, forEachLeafNumbers } from '../iommu/table-pages.js';
import { stripCBit } from '../iommu/pte.js';

export interface AuditViolation {
  kind: 'leaf-size-mismatch' | 'untrusted-large-leaf' | 'stale-iotlb' | 'table-page-not-hypervisor-owned' | 'invariant';
  [key: string]: unknown;
}

const PAGE = 4096;
const REGION_PAGES = 512;

export function auditMachine(m: Machine): AuditViolation[] {
  const out: AuditViolation[] = [];
  const cBit = m.settings.cBit;
  const domains = m.iommu.deviceTable.domains();

  for (const [domainId, d] of domains) {
    const asids = new Set(d.devices.map((dev) => m.firmware.boundAsid(dev)));
    const teeIo = [...asids].some((a) => a >= 0);
    const root = stripCBit(d.root, cBit);
    // 524,288 leaves for a 1 TiB guest of 2 MB leaves: the visitor takes numbers and
    // builds bigints (IOVA, SPA) only for a violation it reports.
    forEachLeafNumbers(m.memory, root, d.mode, cBit, (iova, _level, _entrySpa, pa, sizeLg2) => {
      const firstPfn = Math.floor(pa / PAGE);
      const pages = 2 ** (sizeLg2 - 12);
      if (teeIo) {
        const bad = leafSizeMismatch(m, firstPfn, pages, sizeLg2);
        if (bad !== null) {
          out.push({
            kind: 'leaf-size-mismatch',
            domainId,
            devices: d.devices,
            iova: BigInt(iova),
            spa: BigInt(pa),
            leafSizeLg2: sizeLg2,
            rmpSizeLg2: bad.rmpSizeLg2,
            rule: m.settings.rmpSizeRule,
            firstBadSpa: BigInt(bad.pfn * PAGE),
          });
        }
      } else if (sizeLg2 > 12 && m.rmp.anyAssignedIn(firstPfn, pages)) {
        out.push({ kind: 'untrusted-large-leaf', domainId, devices: d.devices, iova: BigInt(iova), spa: BigInt(pa), leafSizeLg2: sizeLg2 });
      }
    });
  }

  for (const { entry: e, why, fresh } of m.iommu.staleIotlbEntries()) {
    out.push({
      kind: 'stale-iotlb',
      domainId: e.domainId,
      iova: BigInt(e.iovaPfn) * BigInt(PAGE),
      why,
      cached: { spa: BigInt((e.leafSpaBasePfn + (e.iovaPfn - e.leafIovaBasePfn)) * PAGE), sizeLg2: e.leafSizeLg2, read: e.read, write: e.write },
      fresh: fresh === null ? null : { spa: BigInt(fresh.spa), sizeLg2: fresh.sizeLg2, read: fresh.read, write: fresh.write },
    });
  }

  const roots = [...domains.values()].map((d) => ({ root: stripCBit(d.root, cBit), mode: d.mode }));
  for (const [pfn, level] of collectTablePages(m.memory, roots, cBit)) {
    if (m.rmp.isAssigned(pfn)) out.push({ kind: 'table-page-not-hypervisor-owned', spa: BigInt(pfn * PAGE), level });
  }

  out.push(...invariants(m));
  return out;
}

/** The first assigned page under a TEE-IO leaf whose RMP size breaks the rule, or null. */
function leafSizeMismatch(m: Machine, firstPfn: number, pages: number, leafSizeLg2: number): { pfn: number; rmpSizeLg2: number } | null {
  const rule = m.settings.rmpSizeRule;
  for (let pfn = firstPfn; pfn < firstPfn + pages;) {
    const regionEnd = (Math.floor(pfn / REGION_PAGES) + 1) * REGION_PAGES;
    // A whole region with nothing assigned cannot mismatch: skip it in one step.
    if (pfn % REGION_PAGES === 0 && !m.rmp.anyAssignedIn(pfn, REGION_PAGES)) {
      pfn = regionEnd;
      continue;
    }
    if (m.rmp.isAssigned(pfn)) {
      const r = m.rmp.authoritativePageSizeLg2(pfn);
      const ok = rule === 'equal' ? leafSizeLg2 === r : leafSizeLg2 <= r;
      if (!ok) return { pfn, rmpSizeLg2: r };
      // A 2 MB RMP entry answers for its whole region at once.
      if (r === 21) {
        pfn = regionEnd;
        continue;
      }
    }
    pfn++;
  }
  return null;
}

function invariants(m: Machine): AuditViolation[] {
  const out: AuditViolation[] = [];
  const s = m.dma.stats({});
  const sum = s.completed + s.ioPageFaults + s.rmpFaults + s.timeouts + s.aborted + s.inFlight;
  if (s.issued !== sum) out.push({ kind: 'invariant', what: 'dma.stats: issued != completed + faults + timeouts + aborted + inFlight', issued: s.issued, sum });
  for (const [deviceId, asid] of m.firmware.bindings) {
    if (!m.guests.has(asid)) out.push({ kind: 'invariant', what: 'a TDI binding names an unknown guest', deviceId, asid });
  }
  if (m.iommu.eventLog.length > m.iommu.eventLog.capacity) out.push({ kind: 'invariant', what: 'event log holds more entries than its capacity' });
  const poolState = m.pool.getState();
  for (const [spa, pages] of poolState.allocated) {
    if (spa < m.pool.baseSpa || spa + pages * PAGE > m.pool.endSpa) out.push({ kind: 'invariant', what: 'a pool allocation lies outside the pool window', spa: BigInt(spa) });
  }
  return out;
}
