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
  /** The state document, memory left out (`memory.pages` is empty). */
  state: PlatformState;
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
   * it already (in slices).
   */
  add(state: PlatformState, pages: ReadonlyMap<number, PageStore>, docBytes = jsonChars(state)): string {
    if (this.snapshots.size >= this.limits.maxSnapshots) {
      throw new EmuError(ERROR_CODES.LIMIT, `${this.limits.maxSnapshots} snapshots are kept already, the most a platform may hold; revert to an earlier one to drop those after it`, { limit: this.limits.maxSnapshots });
    }
    let added = docBytes;
    for (const page of pages.values()) if (!this.pageRefs.has(page)) added += pageStoreBytes(page);
    if (this.bytes + added > this.limits.maxBytes) {
      throw new EmuError(
        ERROR_CODES.LIMIT,
        `this snapshot would take the snapshots to ${this.bytes + added} bytes, past the limit of ${this.limits.maxBytes}; revert to an earlier one to drop those after it`,
        { bytes: this.bytes + added, limit: this.limits.maxBytes },
      );
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
    this.snapshots.set(id, { state, pages, docBytes });
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
