/**
 * The valid DTEs' domains (V=1, TV=1: protocol/README.md §6.2), kept as an
 * index updated on every DTE write instead of decoding the whole device table on
 * each question. The smash engine asks on every command; decoding 65,536 DTE slots
 * (with bigints) each time made a smash cost grow with the device table.
 *
 * The answer is exactly `DeviceTable.domains()`'s: domains in the order of their
 * lowest-numbered device, each with its devices ascending and the root and mode of
 * the lowest one. Iommu feeds it DTE writes through its memory watch.
 */
import type { HostMemory } from '../memory/host-memory.js';
import type { DomainInfo } from './device-table.js';
import { DEVICE_COUNT } from './device-table.js';
import { decodeDte, dteHasDomain, DTE_BYTES, DTE_QWORDS } from './dte.js';

const NONE = -1;

export class DomainIndex {
  private readonly devDomain = new Int32Array(DEVICE_COUNT).fill(NONE);
  private readonly devRoot = new Float64Array(DEVICE_COUNT);
  private readonly devMode = new Uint8Array(DEVICE_COUNT);
  /** Domain ID -> its devices, ascending. */
  private readonly members = new Map<number, number[]>();
  /** Bumped whenever any domain's membership, root or mode changes. */
  version = 0;

  constructor(
    private readonly memory: HostMemory,
    private readonly baseSpa: number,
  ) {}

  /** Re-reads every DTE (construction, after memory was replaced). */
  rebuild(): void {
    this.devDomain.fill(NONE);
    this.members.clear();
    const firstPfn = this.baseSpa / 4096;
    const perPage = 4096 / DTE_BYTES;
    for (let p = 0; p < (DEVICE_COUNT * DTE_BYTES) / 4096; p++) {
      if (!this.memory.isPageBacked(firstPfn + p)) continue;
      for (let i = 0; i < perPage; i++) this.update(p * perPage + i);
    }
    this.version++;
  }

  /** Re-reads one device's DTE from memory. */
  update(deviceId: number): void {
    const spa = this.baseSpa + deviceId * DTE_BYTES;
    const q: bigint[] = [];
    for (let i = 0; i < DTE_QWORDS; i++) q.push(this.memory.word(spa + i * 8));
    const dte = decodeDte(q);
    const domain = dteHasDomain(dte) ? dte.domainId : NONE;
    const before = this.devDomain[deviceId] as number;
    if (domain === before && (domain === NONE || (this.devRoot[deviceId] === dte.root && this.devMode[deviceId] === dte.mode))) return;
    if (before !== NONE) {
      const list = this.members.get(before) as number[];
      list.splice(list.indexOf(deviceId), 1);
      if (list.length === 0) this.members.delete(before);
    }
    this.devDomain[deviceId] = domain;
    this.devRoot[deviceId] = domain === NONE ? 0 : dte.root;
    this.devMode[deviceId] = domain === NONE ? 0 : dte.mode;
    if (domain !== NONE) {
      let list = this.members.get(domain);
      if (list === undefined) this.members.set(domain, (list = []));
      let at = list.length;
      while (at > 0 && (list[at - 1] as number) > deviceId) at--;
      list.splice(at, 0, deviceId);
    }
    this.version++;
  }

  /** A fresh map (callers may keep or change it), in DeviceTable.domains() order. */
  domains(): Map<number, DomainInfo> {
    const order = [...this.members].sort((a, b) => (a[1][0] as number) - (b[1][0] as number));
    const out = new Map<number, DomainInfo>();
    for (const [domainId, devices] of order) {
      const first = devices[0] as number;
      out.set(domainId, { devices: [...devices], root: this.devRoot[first] as number, mode: this.devMode[first] as number });
    }
    return out;
  }

  has(domainId: number): boolean {
    return this.members.has(domainId);
  }
}
