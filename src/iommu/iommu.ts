/**
 * The AMD IOMMU v1 as the platform sees it (protocol/README.md §6): the device table
 * in host memory, a DTE cache, the walker, the IOTLB, the
 * command decoder's effects, the event log and the host-driver mapper.
 *
 * Caching follows hardware: translation uses a DTE cache filled on first use and
 * dropped only by INVALIDATE_DEVTAB_ENTRY, INVALIDATE_IOMMU_ALL and `setDte`; the
 * IOTLB changes only through commands, `setDte` and the firmware. A host that edits
 * a DTE or a table in memory without invalidating keeps seeing the old one.
 */
import type { HostMemory } from '../memory/host-memory.js';
import type { PagePool } from '../memory/page-pool.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import { runSteps, type Steps } from '../util/steps.js';
import type { DecodedCommand } from './command.js';
import { decodeCommand } from './command.js';
import type { DomainInfo } from './device-table.js';
import { DeviceTable, DEVICE_TABLE_BYTES, checkDeviceId } from './device-table.js';
import type { DecodedDte } from './dte.js';
import { decodeDte, dteHasDomain, withRootAndMode } from './dte.js';
import type { EventLogState } from './event-log.js';
import { EVENT_TYPE, EventLog, DEFAULT_EVENT_LOG_ENTRIES } from './event-log.js';
import type { IotlbEntry, IotlbState } from './iotlb.js';
import { Iotlb } from './iotlb.js';
import type { MapRequest, MapResult } from './mapper.js';
import { IommuMapper } from './mapper.js';
import type { WalkFaultReason, WalkResult } from './page-walker.js';
import { PageWalker, newPageWalk } from './page-walker.js';
import { DEFAULT_C_BIT, stripCBit } from './pte.js';
import type { TableReach } from './table-pages.js';
import { tableReaches } from './table-pages.js';
import { DomainIndex } from './domain-index.js';
import { LiveTables } from './live-tables.js';
import { DEFAULT_IOTLB_ENTRIES } from './iotlb.js';
import { PAGE_BYTES } from '../memory/host-memory.js';

/** Level-2 tables whose reaching domains are cached at once (a smash asks about one). */
const MAX_CACHED_REACHES = 256;

export interface IommuOptions {
  /** Event log ring size (protocol/README.md §6.4): 512. */
  eventLogEntries?: number;
  /** C-bit stripped from table and leaf addresses: DEFAULT_C_BIT (51); null = off. */
  cBit?: number | null;
  /** Use this device table (state load) instead of allocating 2 MiB from the pool. */
  deviceTableSpa?: number;
  /** IOTLB capacity in entries, a power of two: DEFAULT_IOTLB_ENTRIES (2^19). */
  iotlbEntries?: number;
}

/** The caller-owned record `translatePage` fills (no allocation on an IOTLB hit). */
export interface Translation {
  ok: boolean;
  reason: WalkFaultReason | null;
  /** IO_PAGE_FAULT flags for a failure: entry present (PR), permission (PE). */
  present: boolean;
  permission: boolean;
  spaPfn: number;
  leafSizeLg2: number;
  leafSpaBasePfn: number;
  leafIovaBasePfn: number;
  /** 0 on an IOTLB hit, else the entries the walk read. */
  levelsRead: number;
  /** The device's domain, -1 when its DTE gives none. */
  domainId: number;
  hit: boolean;
}

export function newTranslation(): Translation {
  return { ok: false, reason: null, present: false, permission: false, spaPfn: 0, leafSizeLg2: 0, leafSpaBasePfn: 0, leafIovaBasePfn: 0, levelsRead: 0, domainId: -1, hit: false };
}

export interface CommandResult {
  opcode: number;
  name: string;
  /** What the command did, in words. */
  effect: string;
  illegal?: true;
  /** IOTLB entries or cached DTEs dropped. */
  dropped?: number;
  decoded: DecodedCommand;
}

export interface IommuState {
  iotlb: IotlbState;
  eventLog: EventLogState;
  /** Cached DTEs as the IOMMU last read them: qwords as hex strings. */
  dteCache: Array<{ deviceId: number; qwords: string[] }>;
}

export type ReadDteResult = { qwords: bigint[] } & DecodedDte;

interface CachedDte {
  qwords: bigint[];
  dte: DecodedDte;
}

/** A cached translation that a fresh walk does not give (emu.audit). */
export interface StaleIotlbEntry {
  entry: IotlbEntry;
  why: string;
  /** What the fresh walk gives for the page (null when it faults). */
  fresh: { spa: number; sizeLg2: number; read: boolean; write: boolean } | null;
}

export class Iommu {
  readonly deviceTableSpa: number;
  readonly deviceTable: DeviceTable;
  readonly walker: PageWalker;
  readonly iotlb: Iotlb;
  readonly eventLog: EventLog;
  readonly mapper: IommuMapper;
  readonly cBit: number | null;
  private readonly dteCache = new Map<number, CachedDte>();
  /**
   * Bumped whenever what a DMA access sees through the IOMMU may change without the
   * IOTLB noticing: the DTE cache (fills, drops). With `iotlb.version` it tells the DMA
   * engine's closed form that nothing changed.
   */
  dteCacheVersion = 0;
  /**
   * The DTE translatePage used last and its device, while dteCacheVersion holds (every
   * fill or drop of the DTE cache moves it): a stream's requests come from one device,
   * so most skip the cache's Map lookup.
   */
  private lastDteDevice = -1;
  private lastDteVersion = -1;
  private lastDte: DecodedDte | undefined = undefined;
  private readonly walkOut = newPageWalk();
  /** Valid DTEs by domain, and the live table pages, kept up to date by a memory watch. */
  private readonly index: DomainIndex;
  private readonly live: LiveTables;
  private indexValid = false;
  /** tableReaches answers by pfn * 8 + level, with the LiveTables.shapeAbove stamp they hold at. */
  private readonly reachCache = new Map<number, { shape: number; reaches: readonly TableReach[] }>();
  private readonly dtFirstPfn: number;

  constructor(
    private readonly memory: HostMemory,
    pool: PagePool,
    options: IommuOptions = {},
  ) {
    this.cBit = options.cBit === undefined ? DEFAULT_C_BIT : options.cBit;
    this.deviceTableSpa = options.deviceTableSpa ?? pool.alloc(DEVICE_TABLE_BYTES / 4096, DEVICE_TABLE_BYTES);
    this.deviceTable = new DeviceTable(memory, this.deviceTableSpa);
    this.walker = new PageWalker(memory, this.cBit);
    this.iotlb = new Iotlb(options.iotlbEntries ?? DEFAULT_IOTLB_ENTRIES);
    this.eventLog = new EventLog(options.eventLogEntries ?? DEFAULT_EVENT_LOG_ENTRIES);
    this.mapper = new IommuMapper(memory, pool, this.cBit);
    this.index = new DomainIndex(memory, this.deviceTableSpa);
    this.live = new LiveTables(memory, this.cBit);
    this.dtFirstPfn = this.deviceTableSpa / PAGE_BYTES;
    const dtEnd = this.dtFirstPfn + DEVICE_TABLE_BYTES / PAGE_BYTES;
    memory.watch({
      watches: (pfn) => this.indexValid && ((pfn >= this.dtFirstPfn && pfn < dtEnd) || this.live.watches(pfn)),
      wordWritten: (pfn, wordIndex, oldValue) => {
        if (pfn >= this.dtFirstPfn && pfn < dtEnd) {
          const v = this.index.version;
          this.index.update((pfn - this.dtFirstPfn) * (PAGE_BYTES / 32) + (wordIndex >> 2));
          if (this.index.version !== v) this.live.setRoots(this.liveRoots());
        }
        if (this.live.watches(pfn)) this.live.entryWritten(pfn, wordIndex, oldValue);
      },
      invalidated: () => {
        this.indexValid = false;
        this.live.valid = false;
      },
    });
  }

  /** Writes the DTE and makes it effective at once: drops its cached DTE and the IOTLB of the old and new domain. */
  setDte(deviceId: number, qwords: readonly bigint[]): void {
    const before = this.deviceTable.decode(deviceId);
    this.deviceTable.write(deviceId, qwords);
    const after = this.deviceTable.decode(deviceId);
    if (this.dteCache.delete(deviceId)) this.dteCacheVersion++;
    if (dteHasDomain(before)) this.iotlb.invalidateDomain(before.domainId);
    if (dteHasDomain(after)) this.iotlb.invalidateDomain(after.domainId);
  }

  /** The DTE in memory (not the cached one). */
  readDte(deviceId: number): ReadDteResult {
    const qwords = this.deviceTable.read(deviceId);
    return { qwords, ...decodeDte(qwords) };
  }

  /** The device's domain per the DTE the IOMMU uses (cached, else memory); -1 when none. */
  domainOf(deviceId: number): number {
    const dte = this.dteCache.get(deviceId)?.dte ?? this.deviceTable.decode(deviceId);
    return dteHasDomain(dte) ? dte.domainId : -1;
  }

  /** A fresh walk with the DTE in memory; neither cache is read or filled. */
  walk(deviceId: number, iova: bigint, write: boolean): WalkResult {
    return this.walker.walk(this.deviceTable.decode(deviceId), iova, write);
  }

  /** The DMA hot path: IOTLB hit (levelsRead 0), else a walk that fills the IOTLB on success. */
  translatePage(deviceId: number, iovaPfn: number, write: boolean, out: Translation): void {
    let dte = this.lastDte;
    if (deviceId !== this.lastDteDevice || this.dteCacheVersion !== this.lastDteVersion || dte === undefined) {
      dte = (this.dteCache.get(deviceId) ?? this.fillDte(deviceId)).dte;
      this.lastDte = dte;
      this.lastDteDevice = deviceId;
      this.lastDteVersion = this.dteCacheVersion;
    }
    out.hit = false;
    out.levelsRead = 0;
    if (!dte.valid || !dte.translationValid) {
      out.domainId = -1;
      fault(out, 'dte-invalid', false, false);
      return;
    }
    out.domainId = dte.domainId;
    const t = this.iotlb;
    if (t.probe(dte.domainId, iovaPfn)) {
      out.hit = true;
      out.leafSizeLg2 = t.hitLeafSizeLg2;
      out.leafSpaBasePfn = t.hitLeafSpaBasePfn;
      out.leafIovaBasePfn = t.hitLeafIovaBasePfn;
      out.spaPfn = t.hitLeafSpaBasePfn + (iovaPfn - t.hitLeafIovaBasePfn);
      if (write ? !t.hitWrite : !t.hitRead) fault(out, 'permission', true, true);
      else succeed(out);
      return;
    }
    const r = this.walkOut;
    this.walker.walkPfn(dte, iovaPfn, write, r);
    out.levelsRead = r.levelsRead;
    out.leafSizeLg2 = r.sizeLg2;
    out.leafSpaBasePfn = r.leafSpaBasePfn;
    out.leafIovaBasePfn = r.leafIovaBasePfn;
    out.spaPfn = r.spaPfn;
    if (r.fault !== null) {
      fault(out, r.fault, r.present, r.permission);
      return;
    }
    succeed(out);
    this.iotlb.insertLeaf(dte.domainId, iovaPfn, out.leafIovaBasePfn, r.sizeLg2, out.leafSpaBasePfn, r.read, r.write, r.levelsRead);
  }

  /**
   * What translatePage would give if it is an ok IOTLB hit, with no side effect (no
   * DTE cache fill): true and `out` filled, or false (not cached, or a permission fault).
   */
  peekHit(deviceId: number, iovaPfn: number, write: boolean, out: Translation): boolean {
    const cached = this.dteCache.get(deviceId);
    if (cached === undefined) return false;
    const dte = cached.dte;
    if (!dte.valid || !dte.translationValid) return false;
    const t = this.iotlb;
    if (!t.probe(dte.domainId, iovaPfn) || (write ? !t.hitWrite : !t.hitRead)) return false;
    out.hit = true;
    out.levelsRead = 0;
    out.domainId = dte.domainId;
    out.leafSizeLg2 = t.hitLeafSizeLg2;
    out.leafSpaBasePfn = t.hitLeafSpaBasePfn;
    out.leafIovaBasePfn = t.hitLeafIovaBasePfn;
    out.spaPfn = t.hitLeafSpaBasePfn + (iovaPfn - t.hitLeafIovaBasePfn);
    succeed(out);
    return true;
  }

  /** Executes one 16-byte command (hardware.md §3.5, protocol/README.md §6.3). */
  executeCommand(q0: bigint, q1: bigint, atNs: number): CommandResult {
    const d = decodeCommand(q0, q1);
    const base = { opcode: d.opcode, name: d.name, decoded: d };
    switch (d.name) {
      case 'COMPLETION_WAIT': {
        if (d.store) this.memory.write64(d.storeAddress, d.storeData);
        const parts = [d.store ? `stored ${toHex(d.storeData)} at ${toHex(d.storeAddress)}` : 'no store'];
        if (d.interrupt) parts.push('interrupt requested (not modelled)');
        return { ...base, effect: parts.join('; ') };
      }
      case 'INVALIDATE_DEVTAB_ENTRY': {
        const dropped = this.dteCache.delete(d.deviceId) ? 1 : 0;
        this.dteCacheVersion += dropped;
        return { ...base, effect: `dropped the cached DTE of device ${toHex(d.deviceId)}`, dropped };
      }
      case 'INVALIDATE_IOMMU_PAGES': {
        // GN (guest/PASID tables) is not modelled: the host tables are dropped either way.
        const dropped = d.wholeDomain ? this.iotlb.invalidateDomain(d.domainId) : this.iotlb.invalidateRange(d.domainId, d.base, d.sizeLg2);
        const what = d.wholeDomain ? 'the whole domain' : `2^${d.sizeLg2} bytes at ${toHex(d.base)}`;
        return { ...base, effect: `dropped ${dropped} IOTLB entr${dropped === 1 ? 'y' : 'ies'} of domain ${d.domainId} overlapping ${what}`, dropped };
      }
      case 'INVALIDATE_IOMMU_ALL': {
        const dropped = this.iotlb.invalidateAll() + this.dteCache.size;
        this.dteCache.clear();
        this.dteCacheVersion++;
        return { ...base, effect: 'dropped every IOTLB entry and cached DTE', dropped };
      }
      case 'ILLEGAL': {
        this.eventLog.log({ type: EVENT_TYPE.ILLEGAL_COMMAND_ERROR, deviceId: 0, domainId: -1, address: 0n, write: false }, atNs);
        return { ...base, effect: `illegal opcode ${toHex(d.opcode)}: logged ILLEGAL_COMMAND_ERROR`, illegal: true };
      }
      default:
        return { ...base, effect: 'accepted, no effect' };
    }
  }

  logIoPageFault(deviceId: number, domainId: number, iova: bigint, write: boolean, present: boolean, permission: boolean, atNs: number): number | undefined {
    return this.eventLog.log({ type: EVENT_TYPE.IO_PAGE_FAULT, deviceId, domainId, address: iova, write, present, permission }, atNs);
  }

  /** RMP_PAGE_FAULT (protocol/README.md §6.5); the log records the device's domain beside the words. */
  logRmpPageFault(deviceId: number, vmgTag: number, gpa: bigint, write: boolean, rmpFlags: number, atNs: number): number | undefined {
    return this.eventLog.log({ type: EVENT_TYPE.RMP_PAGE_FAULT, deviceId, domainId: this.domainOf(deviceId), address: gpa, write, rmpFlags, vmgTag }, atNs);
  }

  /**
   * Maps into the domain's tables (those of its lowest-numbered valid DTE), raising
   * the mode first when the IOVA needs it; every DTE of the domain on that root then
   * gets the new root and mode, effective at once. Nothing is invalidated.
   */
  map(domainId: number, req: MapRequest): MapResult {
    const info = this.domainInfo(domainId);
    const result = this.mapper.map(info.root, info.mode, req);
    if (result.raised) {
      for (const deviceId of info.devices) {
        const qwords = this.deviceTable.read(deviceId);
        const dte = decodeDte(qwords);
        // As a host driver's increase_top: the DTE gets the new root and mode; cached
        // translations stay (protocol/README.md §6.6: iommu.map does not invalidate).
        if (dte.root === info.root && dte.mode === info.mode) {
          this.deviceTable.write(deviceId, withRootAndMode(qwords, result.root, result.mode));
          if (this.dteCache.delete(deviceId)) this.dteCacheVersion++;
        }
      }
    }
    return result;
  }

  unmap(domainId: number, iova: bigint, length: number): { unmappedBytes: number } {
    const info = this.domainInfo(domainId);
    return this.mapper.unmap(info.root, info.mode, iova, length);
  }

  /**
   * The valid DTEs' domains (V=1, TV=1): domain ID -> devices, root, mode. The
   * smash engine's checks ask this on every command.
   */
  domains(): Map<number, DomainInfo> {
    return this.ensureIndex().domains();
  }

  /**
   * The level of page `pfn` when it is a live page-table page (reachable from the
   * root of any valid DTE), else undefined. The smash engine asks this on every
   * PSMASH_IO (INVALID_HPTE_PADDR, INVALID_PAGE_PADDR checks).
   */
  liveTableLevel(pfn: number): number | undefined {
    this.ensureIndex();
    if (!this.live.valid) this.live.rebuild(this.liveRoots());
    return this.live.level(pfn);
  }

  /** The live table pages and their levels, from the incremental set (tests). */
  liveTablePages(): Map<number, number> {
    this.liveTableLevel(-1);
    return this.live.pages();
  }

  private ensureIndex(): DomainIndex {
    if (!this.indexValid) {
      this.index.rebuild();
      this.indexValid = true;
      this.live.valid = false;
    }
    return this.index;
  }

  /** Each domain's root (C-bit stripped) and mode, in domains() order: what the live set hangs from. */
  private liveRoots(): Array<{ root: number; mode: number }> {
    return [...this.index.domains().values()].map((d) => ({ root: stripCBit(d.root, this.cBit), mode: d.mode }));
  }

  /**
   * The domains whose tables reach page `pfn` as a level-`level` table, with the
   * IOVA of its entry 0 (the smash engine's scope and IOTLB invalidation).
   */
  tableReaches(pfn: number, level: number): readonly TableReach[] {
    this.ensureIndex();
    if (!this.live.valid) this.live.rebuild(this.liveRoots());
    // The answer depends only on the roots and the tables above `level`: cached
    // while the live set says none of them points elsewhere (every smash asks it,
    // and the walk reads every table above level 2: ~1,000 at 1 TiB).
    const shape = this.live.shapeAbove(level);
    const key = pfn * 8 + level;
    const cached = shape >= 0 ? this.reachCache.get(key) : undefined;
    if (cached !== undefined && cached.shape === shape) return cached.reaches;
    const roots = [...this.domains()].map(([domainId, d]) => ({ domainId, root: stripCBit(d.root, this.cBit), mode: d.mode }));
    const reaches = Object.freeze(tableReaches(this.memory, roots, this.cBit, pfn, level).map((r) => Object.freeze(r)));
    if (shape >= 0) {
      if (this.reachCache.size >= MAX_CACHED_REACHES) this.reachCache.clear();
      this.reachCache.set(key, { shape, reaches });
    }
    return reaches;
  }

  /**
   * IOTLB entries that differ from a fresh walk through the domain's DTE in memory
   * (SPA, permissions or leaf size), for `emu.audit`.
   */
  staleIotlbEntries(): StaleIotlbEntry[] {
    const domains = this.deviceTable.domains();
    const out: StaleIotlbEntry[] = [];
    for (const entry of this.iotlb.entries()) {
      const info = domains.get(entry.domainId);
      if (info === undefined) {
        out.push({ entry, why: `domain ${entry.domainId} has no valid DTE`, fresh: null });
        continue;
      }
      const r = this.walker.walk(this.deviceTable.decode(info.devices[0] as number), BigInt(entry.iovaPfn) << 12n, false);
      const found = r.ok || r.fault?.reason === 'permission';
      const spaPfn = entry.leafSpaBasePfn + (entry.iovaPfn - entry.leafIovaBasePfn);
      const fresh = found ? { spa: r.spa - (r.spa % 4096), sizeLg2: r.sizeLg2, read: r.read, write: r.write } : null;
      if (!found) out.push({ entry, why: `a fresh walk faults (${r.fault?.reason ?? 'unknown'})`, fresh });
      else if (Math.floor(r.spa / 4096) !== spaPfn) out.push({ entry, why: `cached SPA ${toHex(spaPfn * 4096)}, fresh walk ${toHex(r.spa - (r.spa % 4096))}`, fresh });
      else if (r.read !== entry.read || r.write !== entry.write) out.push({ entry, why: 'permissions differ from a fresh walk', fresh });
      else if (r.sizeLg2 !== entry.leafSizeLg2) out.push({ entry, why: `cached leaf 2^${entry.leafSizeLg2}, fresh walk 2^${r.sizeLg2}`, fresh });
    }
    return out;
  }

  getState(): IommuState {
    return runSteps(this.stateSteps());
  }

  /** getState in steps (the IOTLB listing yields): a state dump made in slices. */
  *stateSteps(): Steps<IommuState> {
    return {
      iotlb: { entries: yield* this.iotlb.entrySteps() },
      eventLog: this.eventLog.getState(),
      dteCache: [...this.dteCache.entries()].sort((a, b) => a[0] - b[0]).map(([deviceId, c]) => ({ deviceId, qwords: c.qwords.map((q) => toHex(q)) })),
    };
  }

  setState(state: IommuState): void {
    runSteps(this.setStateSteps(state));
  }

  /** setState in steps (the IOTLB's inserts yield): a state load made in slices. */
  *setStateSteps(state: IommuState): Steps<void> {
    yield* this.iotlb.setStateSteps(state.iotlb);
    this.eventLog.setState(state.eventLog);
    this.dteCache.clear();
    this.dteCacheVersion++;
    for (const { deviceId, qwords } of state.dteCache) {
      checkDeviceId(deviceId);
      const q = qwords.map((h) => BigInt(h));
      this.dteCache.set(deviceId, { qwords: q, dte: decodeDte(q) });
    }
  }

  private fillDte(deviceId: number): CachedDte {
    const qwords = this.deviceTable.read(deviceId);
    const cached = { qwords, dte: decodeDte(qwords) };
    this.dteCache.set(deviceId, cached);
    this.dteCacheVersion++;
    return cached;
  }

  private domainInfo(domainId: number): { devices: number[]; root: number; mode: number } {
    const info = this.domains().get(domainId);
    if (info === undefined) {
      throw new EmuError(ERROR_CODES.NOT_FOUND, `domain ${domainId} has no valid DTE (V=1, TV=1); set one with iommu.setDte first`, { domainId });
    }
    return info;
  }
}

function fault(out: Translation, reason: WalkFaultReason, present: boolean, permission: boolean): void {
  out.ok = false;
  out.reason = reason;
  out.present = present;
  out.permission = permission;
}

function succeed(out: Translation): void {
  out.ok = true;
  out.reason = null;
  out.present = true;
  out.permission = false;
}
