/**
 * emu.snapshot's store (protocol/README.md §1.3 and §12): snapshots in the order taken, bounded in
 * number and in bytes, sharing the memory pages they have in common. A snapshot
 * holds the platform's state document without memory, plus the memory's pages as
 * shared, frozen stores (HostMemory.sharePages): a page nobody wrote since the last
 * snapshot costs nothing more. Bytes count each distinct page once (4 KB for a full
 * page, less for a sparse one) plus each document's JSON size.
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { jsonChars } from '../util/json-bounds.js';
import { pageStoreBytes, type PageStore } from '../memory/host-memory.js';
import type { PlatformState } from './platform-state.js';
import type { IotlbEntry } from '../iommu/iotlb.js';
import { runSteps, STEP_ITEMS, type Steps } from '../util/steps.js';

export interface SnapshotLimits {
  /** Snapshots kept at once; one more is -32003. Default 256. */
  maxSnapshots: number;
  /** Bytes they may hold together (distinct pages + documents); past it -32003. Default 1 GiB. */
  maxBytes: number;
}

export const DEFAULT_SNAPSHOT_LIMITS: Readonly<SnapshotLimits> = Object.freeze({ maxSnapshots: 256, maxBytes: 1024 * 1024 * 1024 });

/** The snapshot bytes every platform of a server may hold together, by default: 1 GiB (not 1 GiB per platform). */
export const DEFAULT_SERVER_SNAPSHOT_BYTES = 1024 * 1024 * 1024;

/**
 * A byte budget several snapshot stores share (a server's platforms): each store
 * takes from it what it adds and gives back what it drops, or all of it when its
 * platform goes away.
 */
export class SnapshotBudget {
  used = 0;
  constructor(readonly maxBytes: number = DEFAULT_SERVER_SNAPSHOT_BYTES) {}
}

export interface Snapshot {
  /** The state document, memory left out (`memory.pages` is empty) and the IOTLB's entries packed in `iotlb` (stateSteps gives them back). */
  state: PlatformState;
  /**
   * The IOTLB entries, IOTLB_FIELDS numbers each: a full IOTLB is 2^19 entries, and
   * as objects every snapshot would keep that many in the heap for the garbage
   * collector to walk on each full collection.
   */
  iotlb: Float64Array;
  pages: ReadonlyMap<number, PageStore>;
  /** The document's size, about, in bytes. */
  docBytes: number;
}

export class SnapshotStore {
  private readonly snapshots = new Map<string, Snapshot>();
  /** Page store -> snapshots holding it; its bytes count while it is held. */
  private readonly pageRefs = new Map<PageStore, number>();
  private bytes = 0;
  private nextId = 1;

  constructor(
    private readonly limits: SnapshotLimits = DEFAULT_SNAPSHOT_LIMITS,
    private readonly shared?: SnapshotBudget,
  ) {}

  /**
   * Stores a snapshot, or refuses it (EMU_LIMIT) and keeps nothing when a limit
   * would be passed. `docBytes`: the document's jsonChars, when the caller counted
   * it already (in slices); `packed`: its IOTLB entries packed (packIotlbSteps), when
   * the caller packed them already.
   */
  add(state: PlatformState, pages: ReadonlyMap<number, PageStore>, docBytes = jsonChars(state), packed?: Packed): string {
    if (this.snapshots.size >= this.limits.maxSnapshots) {
      throw new EmuError(ERROR_CODES.LIMIT, `${this.limits.maxSnapshots} snapshots are kept already, the most a platform may hold; revert to an earlier one to drop those after it`, { limit: this.limits.maxSnapshots });
    }
    let added = docBytes;
    for (const page of pages.values()) if (!this.pageRefs.has(page)) added += pageStoreBytes(page);
    if (this.bytes + added > this.limits.maxBytes) {
      throw new EmuError(ERROR_CODES.LIMIT, `this snapshot would take the snapshots to ${this.bytes + added} bytes, past the limit of ${this.limits.maxBytes}; revert to an earlier one to drop those after it`, {
        bytes: this.bytes + added,
        limit: this.limits.maxBytes,
      });
    }
    const shared = this.shared;
    if (shared !== undefined && shared.used + added > shared.maxBytes) {
      throw new EmuError(
        ERROR_CODES.LIMIT,
        `this snapshot (${added} bytes) would take the server's snapshots to ${shared.used + added} bytes, past the server-wide budget of ${shared.maxBytes} that all platforms share; revert to an earlier snapshot or delete a platform to free some`,
        { limit: 'serverSnapshotBytes', bytes: shared.used + added, max: shared.maxBytes },
      );
    }
    for (const page of pages.values()) this.pageRefs.set(page, (this.pageRefs.get(page) ?? 0) + 1);
    this.bytes += added;
    if (shared !== undefined) shared.used += added;
    const id = `snap-${this.nextId++}`;
    const { doc, iotlb } = packed ?? runSteps(packIotlbSteps(state));
    this.snapshots.set(id, { state: doc, iotlb, pages, docBytes });
    return id;
  }

  get(id: string): Snapshot | undefined {
    return this.snapshots.get(id);
  }

  /** Drops every snapshot taken after `id` (emu.revert keeps `id` itself). */
  dropAfter(id: string): void {
    let after = false;
    for (const [key, snap] of [...this.snapshots]) {
      if (after) this.drop(key, snap);
      if (key === id) after = true;
    }
  }

  /** Drops every snapshot (the platform goes away): its bytes go back to the shared budget. */
  clear(): void {
    if (this.shared !== undefined) this.shared.used -= this.bytes;
    this.snapshots.clear();
    this.pageRefs.clear();
    this.bytes = 0;
  }

  /** Snapshots held and the bytes they take together. */
  usage(): { snapshots: number; bytes: number } {
    return { snapshots: this.snapshots.size, bytes: this.bytes };
  }

  private drop(id: string, snap: Snapshot): void {
    const before = this.bytes;
    this.dropOne(id, snap);
    if (this.shared !== undefined) this.shared.used -= before - this.bytes;
  }

  private dropOne(id: string, snap: Snapshot): void {
    this.snapshots.delete(id);
    this.bytes -= snap.docBytes;
    for (const page of snap.pages.values()) {
      const n = (this.pageRefs.get(page) ?? 1) - 1;
      if (n > 0) this.pageRefs.set(page, n);
      else {
        this.pageRefs.delete(page);
        this.bytes -= pageStoreBytes(page);
      }
    }
  }
}

/** Numbers per packed IOTLB entry: domain, page, leaf IOVA base, leaf size, leaf SPA base, permissions, levels read. */
const IOTLB_FIELDS = 7;

/** A snapshot document with its IOTLB entries packed. */
export interface Packed {
  doc: PlatformState;
  iotlb: Float64Array;
}

function iotlbOf(state: PlatformState): IotlbEntry[] {
  return (state.iommu as { iotlb: { entries: IotlbEntry[] } }).iotlb.entries;
}

function withIotlb(state: PlatformState, entries: IotlbEntry[]): PlatformState {
  const iommu = state.iommu as { iotlb: { entries: IotlbEntry[] } };
  return { ...state, iommu: { ...iommu, iotlb: { ...iommu.iotlb, entries } } };
}

/** `state` (a dump of the running machine) with its IOTLB entries packed, in steps. */
export function* packIotlbSteps(state: PlatformState): Steps<Packed> {
  const entries = iotlbOf(state);
  const out = new Float64Array(entries.length * IOTLB_FIELDS);
  for (let k = 0, o = 0; k < entries.length; k++, o += IOTLB_FIELDS) {
    const e = entries[k] as IotlbEntry;
    out[o] = e.domainId;
    out[o + 1] = e.iovaPfn;
    out[o + 2] = e.leafIovaBasePfn;
    out[o + 3] = e.leafSizeLg2;
    out[o + 4] = e.leafSpaBasePfn;
    out[o + 5] = (e.read ? 1 : 0) | (e.write ? 2 : 0);
    out[o + 6] = e.levelsRead;
    if ((k + 1) % STEP_ITEMS === 0) yield;
  }
  return { doc: withIotlb(state, []), iotlb: out };
}

/** A snapshot's state document whole again (the IOTLB entries unpacked), in steps. */
export function* snapshotStateSteps(snap: Snapshot): Steps<PlatformState> {
  const packed = snap.iotlb;
  const entries: IotlbEntry[] = new Array<IotlbEntry>(packed.length / IOTLB_FIELDS);
  for (let k = 0, o = 0; k < entries.length; k++, o += IOTLB_FIELDS) {
    const perm = packed[o + 5] as number;
    entries[k] = {
      domainId: packed[o] as number,
      iovaPfn: packed[o + 1] as number,
      leafIovaBasePfn: packed[o + 2] as number,
      leafSizeLg2: packed[o + 3] as number,
      leafSpaBasePfn: packed[o + 4] as number,
      read: (perm & 1) !== 0,
      write: (perm & 2) !== 0,
      levelsRead: packed[o + 6] as number,
    };
    if ((k + 1) % STEP_ITEMS === 0) yield;
  }
  return withIotlb(snap.state, entries);
}
