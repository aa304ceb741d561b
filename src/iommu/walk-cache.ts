/**
 * The walker's memo of upper table levels: what the walk finds above level 1 for one
 * (DTE root, mode, DTE IR/IW, 2 MB IOVA group). Every 4 KB page of a 2 MB group reads
 * the same entries at levels mode..2 (their index bits are IOVA bits 63:21), so a run
 * of IOTLB misses over one group (a stream's first touches, a 2 MB leaf's 512 pages)
 * reads them once.
 *
 * Not the hardware's page-directory cache: that one goes stale until an invalidation,
 * this one never does. An entry holds only while the table words it was computed from
 * hold: a memory watch on every table page a kept entry read drops the whole memo on
 * any write to one of them (a map or unmap, a smash or unsmash rewriting a PDE, a
 * COMPLETION_WAIT store, a state load or revert), so a walk through it is always
 * the exact walk of the tables in memory now. Its key carries everything else a walk
 * reads (the DTE fields), so a DTE change or a DTE-cache drop needs nothing here.
 *
 * Direct-mapped, UPPER_WALK_SLOTS entries in typed arrays (no allocation per walk).
 */
import type { HostMemory } from '../memory/host-memory.js';
import type { PageWalk, WalkFaultReason } from './page-walk.js';

/** Entries kept (a power of two): 256 groups = 512 MiB of IOVA at 2 MB per group. */
export const UPPER_WALK_SLOTS = 256;
/** Table pages watched at most before the memo starts over (bounds the watch set). */
const MAX_WATCHED_PAGES = 4096;

/** How the upper levels ended: a leaf above level 1, a fault, or a level-1 table to read (its SPA, >= 0). */
export const UPPER_LEAF = -2;
export const UPPER_FAULT = -1;

const NO_GROUP = -1;

/** The part of a walk record the upper levels decide. */
export type UpperWalkState = Pick<PageWalk, 'fault' | 'present' | 'permission' | 'read' | 'write' | 'levelsRead' | 'leafLevel' | 'leafEntrySpa' | 'sizeLg2' | 'leafSpaBasePfn'>;

export class UpperWalkCache {
  private readonly group = new Float64Array(UPPER_WALK_SLOTS).fill(NO_GROUP);
  private readonly root = new Float64Array(UPPER_WALK_SLOTS);
  /** mode | IR << 3 | IW << 4 of the DTE the entry was walked with. */
  private readonly dteBits = new Uint8Array(UPPER_WALK_SLOTS);
  /** UPPER_LEAF, UPPER_FAULT or the level-1 table's SPA. */
  private readonly outcome = new Float64Array(UPPER_WALK_SLOTS);
  /** read | write << 1 | present << 2 | permission << 3, after the upper levels. */
  private readonly flags = new Uint8Array(UPPER_WALK_SLOTS);
  private readonly levelsRead = new Uint8Array(UPPER_WALK_SLOTS);
  private readonly leafLevel = new Uint8Array(UPPER_WALK_SLOTS);
  private readonly leafEntrySpa = new Float64Array(UPPER_WALK_SLOTS);
  private readonly sizeLg2 = new Uint8Array(UPPER_WALK_SLOTS);
  private readonly leafSpaBasePfn = new Float64Array(UPPER_WALK_SLOTS);
  private readonly fault: Array<WalkFaultReason | null> = new Array<WalkFaultReason | null>(UPPER_WALK_SLOTS).fill(null);
  /** The table pages the kept entries read: a write to one drops them all. */
  private readonly pages = new Set<number>();
  /** Entries kept (for tests and statistics). */
  size = 0;
  /** Times the memo was dropped by a table write or a memory replacement. */
  drops = 0;

  constructor(memory: HostMemory) {
    memory.watch({
      watches: (pfn) => this.size !== 0 && this.pages.has(pfn),
      wordWritten: () => this.clear(),
      invalidated: () => this.clear(),
    });
  }

  /** The slot of (root, mode, read, write, group): hashed, not yet compared. */
  slot(root: number, dteBits: number, group: number): number {
    return ((group | 0) ^ Math.imul((root / 4096) | 0, 0x9e3779b1) ^ dteBits) & (UPPER_WALK_SLOTS - 1);
  }

  /** Whether `slot` holds exactly this key. */
  holds(slot: number, root: number, dteBits: number, group: number): boolean {
    return this.group[slot] === group && this.root[slot] === root && this.dteBits[slot] === dteBits;
  }

  /** Copies the kept upper-level state of `slot` into `out`; returns its outcome. */
  restore(slot: number, out: UpperWalkState): number {
    const f = this.flags[slot] as number;
    const outcome = this.outcome[slot] as number;
    out.read = (f & 1) !== 0;
    out.write = (f & 2) !== 0;
    // A walk sets these only when it faults (the record keeps the last fault's otherwise).
    if (outcome === UPPER_FAULT) {
      out.present = (f & 4) !== 0;
      out.permission = (f & 8) !== 0;
      out.fault = this.fault[slot] as WalkFaultReason | null;
    }
    out.levelsRead = this.levelsRead[slot] as number;
    out.leafLevel = this.leafLevel[slot] as number;
    out.leafEntrySpa = this.leafEntrySpa[slot] as number;
    out.sizeLg2 = this.sizeLg2[slot] as number;
    out.leafSpaBasePfn = this.leafSpaBasePfn[slot] as number;
    return outcome;
  }

  /** Keeps `out`'s state after the upper levels in `slot`; `tablePfns` are the pages they read. */
  store(slot: number, root: number, dteBits: number, group: number, outcome: number, out: UpperWalkState, tablePfns: ArrayLike<number>, tablePages: number): void {
    if (this.pages.size + tablePages > MAX_WATCHED_PAGES) this.clear();
    for (let i = 0; i < tablePages; i++) this.pages.add(tablePfns[i] as number);
    if (this.group[slot] === NO_GROUP) this.size++;
    this.group[slot] = group;
    this.root[slot] = root;
    this.dteBits[slot] = dteBits;
    this.outcome[slot] = outcome;
    this.flags[slot] = (out.read ? 1 : 0) | (out.write ? 2 : 0) | (out.present ? 4 : 0) | (out.permission ? 8 : 0);
    this.fault[slot] = out.fault;
    this.levelsRead[slot] = out.levelsRead;
    this.leafLevel[slot] = out.leafLevel;
    this.leafEntrySpa[slot] = out.leafEntrySpa;
    this.sizeLg2[slot] = out.sizeLg2;
    this.leafSpaBasePfn[slot] = out.leafSpaBasePfn;
  }

  /** Drops every entry. */
  clear(): void {
    if (this.size === 0 && this.pages.size === 0) return;
    this.group.fill(NO_GROUP);
    this.fault.fill(null);
    this.pages.clear();
    this.size = 0;
    this.drops++;
  }
}
