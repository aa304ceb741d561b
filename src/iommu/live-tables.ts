/**
 * The live page-table pages (every table reachable from a domain's root, with its
 * level: table-pages.ts `collectTablePages`), kept incrementally so the smash
 * engine's live-table check (PSMASH_IO check 5, protocol/README.md §4.3.5) costs the
 * same at 1 GiB and at 1 TiB. A full walk of a 1 TiB guest's ~1,000 tables on every
 * smash was what made the smash rate fall with guest size.
 *
 * Each (page, level) node is reference-counted by the table entries (and roots)
 * that point at it; a write to an entry of a live table moves one reference, and a
 * node whose count reaches 0 releases its own children. The answer equals the full
 * walk's whenever every live page has one level. A page reachable at two levels
 * (a host bug: the walk's answer then depends on its visiting order) makes this fall
 * back to that exact walk until the tables change again.
 */
import type { HostMemory } from '../memory/host-memory.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import { addrMaskHi, addrMaskLo, ENTRIES_PER_TABLE, MAX_LEVEL, NL_DEFAULT_LEAF, NL_SIZED_LEAF, pteAddressMasked, pteNextLevelLo, ptePresentLo } from './pte.js';
import { liveTableLevel, type TableRoot } from './table-pages.js';
import { DeadEntries } from '../util/dead-entries.js';

const NO_CHILD = -1;

/** key = pfn * 8 + level: exact below 2^53 (page numbers are below 2^40). */
function keyOf(pfn: number, level: number): number {
  return pfn * 8 + level;
}

export class LiveTables {
  private readonly maskLo: number;
  private readonly maskHi: number;
  private refs = new Map<number, number>();
  /** Counts and level masks dropped to 0 stay in their Maps until swept (dead-entries.ts). */
  private readonly deadRefs = new DeadEntries<number, number>(isZero);
  private readonly deadLevels = new DeadEntries<number, number>(isZero);
  /** Page -> bit mask of the levels it is live at. */
  private levels = new Map<number, number>();
  /** Pages live at more than one level. */
  private multi = 0;
  private roots: TableRoot[] = [];
  private rootKeys: number[] = [];
  /** False until built, and after a change this cannot follow (then rebuilt on use). */
  valid = false;
  /**
   * By table level: the stamp of the last write that changed where an entry of a
   * live table of that level points (a rebuild or a root change stamps them all).
   * Stamps only grow, so a result derived from the tables above a level stays
   * right while `shapeAbove(level)` gives the stamp it was computed at.
   */
  private readonly pointerStamps = new Float64Array(MAX_LEVEL + 1);
  private stamp = 0;

  constructor(
    private readonly memory: HostMemory,
    private readonly cBit: number | null,
  ) {
    this.maskLo = addrMaskLo(cBit);
    this.maskHi = addrMaskHi(cBit);
  }

  /** Whether writes to `pfn` can change the set (a live table page). */
  watches(pfn: number): boolean {
    return this.valid && (this.levels.get(pfn) ?? 0) !== 0;
  }

  /**
   * A stamp that changes whenever a table of a level above `level` may point
   * elsewhere, or the roots move; -1 while the set is not kept (invalid, or a page
   * live at two levels): then nothing may be cached. The smash engine caches which
   * domains reach a level-2 table with it (Iommu.tableReaches).
   */
  shapeAbove(level: number): number {
    if (!this.valid || this.multi > 0) return -1;
    let m = 0;
    for (let l = Math.max(0, level + 1); l <= MAX_LEVEL; l++) m = Math.max(m, this.pointerStamps[l] as number);
    return m;
  }

  private stampLevel(level: number): void {
    this.pointerStamps[level] = ++this.stamp;
  }

  private stampAll(): void {
    this.pointerStamps.fill(++this.stamp);
  }

  /** Builds the set from scratch for these roots (C-bit already stripped). */
  rebuild(roots: TableRoot[]): void {
    this.stampAll();
    this.refs = new Map();
    this.levels = new Map();
    this.multi = 0;
    this.roots = roots;
    this.rootKeys = roots.map((r) => this.rootKey(r));
    for (const k of this.rootKeys) if (k !== NO_CHILD) this.ref(k);
    this.valid = true;
  }

  /** The roots changed (a DTE write): move their references. */
  setRoots(roots: TableRoot[]): void {
    if (!this.valid) return;
    this.stampAll();
    const keys = roots.map((r) => this.rootKey(r));
    const old = this.rootKeys;
    this.roots = roots;
    this.rootKeys = keys;
    if (this.multi > 0) {
      this.valid = false;
      return;
    }
    for (const k of keys) if (k !== NO_CHILD) this.ref(k);
    for (const k of old) if (k !== NO_CHILD) this.unref(k);
    if (this.multi > 0) this.valid = false;
  }

  /** Word `index` of live page `pfn` was `oldValue` and has been written. */
  entryWritten(pfn: number, index: number, oldValue: bigint): void {
    if (!this.valid) return;
    const bits = this.levels.get(pfn) ?? 0;
    if (bits === 0) return;
    if (this.multi > 0) {
      this.valid = false;
      return;
    }
    const level = 31 - Math.clz32(bits);
    if (level === 1 || index >= entriesAt(level)) return;
    const view = this.memory.pageHalves(pfn);
    const lo = view === undefined ? 0 : (view[2 * index] as number);
    const hi = view === undefined ? 0 : (view[2 * index + 1] as number);
    const before = this.childKey(Number(oldValue & 0xffff_ffffn), Number(oldValue >> 32n), level);
    const after = this.childKey(lo, hi, level);
    if (before === after) return;
    this.stampLevel(level);
    if (after !== NO_CHILD) this.ref(after);
    if (before !== NO_CHILD) this.unref(before);
    if (this.multi > 0) this.valid = false;
  }

  /** The level of `pfn` when it is a live table page, else undefined. */
  level(pfn: number): number | undefined {
    if (this.multi > 0) return liveTableLevel(this.memory, this.roots, this.cBit, pfn);
    const bits = this.levels.get(pfn) ?? 0;
    return bits === 0 ? undefined : 31 - Math.clz32(bits);
  }

  /** Live pages (tests compare them with collectTablePages). */
  pages(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [pfn, bits] of this.levels) if (bits !== 0) out.set(pfn, 31 - Math.clz32(bits));
    return out;
  }

  private rootKey(r: TableRoot): number {
    if (r.mode < 1 || r.mode > MAX_LEVEL || r.root % PAGE_BYTES !== 0 || !this.memory.contains(r.root, PAGE_BYTES)) return NO_CHILD;
    return keyOf(r.root / PAGE_BYTES, r.mode);
  }

  /** The table an entry of a `level` table points at, as a key, or NO_CHILD. */
  private childKey(lo: number, hi: number, level: number): number {
    if (!ptePresentLo(lo)) return NO_CHILD;
    const nextLevel = pteNextLevelLo(lo);
    if (nextLevel === NL_DEFAULT_LEAF || nextLevel === NL_SIZED_LEAF || nextLevel >= level) return NO_CHILD;
    const spa = pteAddressMasked(lo, hi, this.maskLo, this.maskHi);
    if (!this.memory.contains(spa, PAGE_BYTES)) return NO_CHILD;
    return keyOf(spa / PAGE_BYTES, nextLevel);
  }

  private ref(key: number): void {
    const c = this.refs.get(key);
    if (c !== undefined && c !== 0) {
      this.refs.set(key, c + 1);
      return;
    }
    this.refs.set(key, 1);
    const pfn = Math.floor(key / 8);
    const level = key - pfn * 8;
    const bits = this.levels.get(pfn) ?? 0;
    if (bits !== 0) this.multi += bits === (bits & -bits) ? 1 : 0;
    this.levels.set(pfn, bits | (1 << level));
    this.forEachChild(pfn, level, (k) => this.ref(k));
  }

  private unref(key: number): void {
    const c = this.refs.get(key) as number;
    if (c > 1) {
      this.refs.set(key, c - 1);
      return;
    }
    // Counts and level masks drop to 0 rather than leaving their Map: a smash and its
    // unsmash add and remove the same table over and over, and V8 rehashes a Map of
    // ~1,000 entries (a 1 TiB guest's tables) under delete/re-add churn.
    this.refs.set(key, 0);
    this.deadRefs.died(this.refs);
    const pfn = Math.floor(key / 8);
    const level = key - pfn * 8;
    const bits = (this.levels.get(pfn) as number) & ~(1 << level);
    if (bits === 0) {
      this.levels.set(pfn, 0);
      this.deadLevels.died(this.levels);
    } else {
      this.levels.set(pfn, bits);
      if (bits === (bits & -bits)) this.multi--;
    }
    this.forEachChild(pfn, level, (k) => this.unref(k));
  }

  private forEachChild(pfn: number, level: number, fn: (key: number) => void): void {
    if (level === 1) return;
    const view = this.memory.pageHalves(pfn);
    if (view === undefined) return;
    const n = entriesAt(level);
    for (let i = 0; i < n; i++) {
      const lo = view[2 * i] as number;
      if (!ptePresentLo(lo)) continue;
      const k = this.childKey(lo, view[2 * i + 1] as number, level);
      if (k !== NO_CHILD) fn(k);
    }
  }
}

function isZero(n: number): boolean {
  return n === 0;
}

function entriesAt(level: number): number {
  return level === MAX_LEVEL ? 128 : ENTRIES_PER_TABLE;
}
