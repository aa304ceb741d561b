/**
 * The v1 host page walk (hardware.md §3.2-3.4), modelled on QEMU's fetch_pte: from
 * the DTE root down to a leaf, permissions ANDed along the way (DTE, every PDE,
 * the leaf). A walk failure is a returned IO_PAGE_FAULT, never a throw.
 *
 * Failures it can return (`fault.reason`):
 * - 'dte-invalid'    DTE V=0 or TV=0 (no host translation; QEMU would isolate).
 * - 'bad-mode'       DTE mode 0 (pass-through, not allowed with SNP, §3.4) or 7.
 * - 'beyond-mode'    IOVA above the mode's range: mode m covers bits 12+9m-1:0, mode 6 all 64.
 * - 'not-present'    an entry on the way has PR=0 (an entry outside memory reads as 0).
 * - 'bad-next-level' a PDE whose NextLevel is >= its own level, or that skips levels
 *                    (NL < L-1: defined by the spec, unused by Linux, rejected here, §3.2).
 * - 'bad-leaf-size'  a leaf at level 6, an NL=0 leaf at level 4 (512 GB erratum), or an
 *                    NL=7 size the level does not allow (§3.2 table).
 * - 'permission'     the ANDed IR (reads) or IW (writes) is 0; present and permission set.
 * Table and leaf addresses (and the DTE root) are stripped of the C-bit.
 */
import type { HostMemory } from '../memory/host-memory.js';
import type { DecodedDte } from './dte.js';
import { DTE_MODE_PASS_THROUGH, DTE_MODE_RESERVED } from './dte.js';
import {
  addrMaskHi,
  addrMaskLo,
  leafSizeAllowed,
  levelDefaultSizeLg2,
  levelIndexPfn,
  MAX_LEVEL,
  NL_DEFAULT_LEAF,
  NL_SIZED_LEAF,
  pteAddressMasked,
  pteNextLevelLo,
  ptePresentLo,
  pteReadHi,
  pteWriteHi,
  sizedLeafLg2Halves,
  stripCBit,
} from './pte.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import { POW2, modPow2 } from '../util/pow2.js';
import { UPPER_FAULT, UPPER_LEAF, UpperWalkCache } from './walk-cache.js';
import { WALK_FAULT_REASONS, newPageWalk, type PageWalk, type WalkFaultReason } from './page-walk.js';

export { WALK_FAULT_REASONS, newPageWalk, type PageWalk, type WalkFaultReason };

/** 4 KB pages per 2 MB group: the pages whose walks read the same entries above level 1. */
const UPPER_GROUP_PAGES = 512;

export const IO_PAGE_FAULT_TYPE = 2;

export interface WalkStep {
  level: number;
  entrySpa: number;
  value: bigint;
}

export interface WalkFault {
  type: typeof IO_PAGE_FAULT_TYPE;
  typeName: 'IO_PAGE_FAULT';
  reason: WalkFaultReason;
  /** The faulting entry was present (PR flag of the event). */
  present: boolean;
  /** A permission failure (PE flag of the event). */
  permission: boolean;
}

export interface WalkResult {
  ok: boolean;
  /** SPA of the IOVA (0 on a fault, except a permission fault: the leaf was found). */
  spa: number;
  /** log2 of the leaf size in bytes (0 on a fault, except a permission fault). */
  sizeLg2: number;
  /** IR / IW ANDed over the DTE and every entry read. */
  read: boolean;
  write: boolean;
  /** Every entry read, top level first. */
  steps: WalkStep[];
  levelsRead: number;
  /** Level of the leaf, or of the entry that faulted (0 for a DTE fault). */
  leafLevel: number;
  /** SPA of the leaf entry, or of the entry that faulted (-1 when none was read). */
  leafEntrySpa: number;
  /** The leaf's page SPA and IOVA base (0 on a fault, except a permission fault). */
  leafSpaBase: number;
  leafIovaBase: bigint;
  fault?: WalkFault;
}

const IOVA_BITS = 64;

/** Per DTE mode m (index), the first IOVA beyond its range: 2^(12+9m), 2^64 for mode 6. */
const MODE_LIMIT: readonly bigint[] = Array.from({ length: MAX_LEVEL + 1 }, (_, m) => 1n << BigInt(m === MAX_LEVEL ? IOVA_BITS : levelDefaultSizeLg2(m + 1)));
/** Per sizeLg2 (index, 0..64), ~(2^sizeLg2 - 1): clears a leaf's offset bits from an IOVA. */
const CLEAR_BELOW: readonly bigint[] = Array.from({ length: IOVA_BITS + 1 }, (_, s) => ~((1n << BigInt(s)) - 1n));

/*
 * Every IOTLB miss walks, so the walk decodes entries as 32-bit halves (pte.ts) and
 * keeps the IOVA as its page number (exact: below 2^52 once the range check passed)
 * and its low 12 bits; the only bigints it makes are each step's value, the leaf's
 * IOVA base and the two that split the IOVA (ARCHITECTURE.md, "Value conventions
 * inside the domain"). Results are the same values the bigint decoders give.
 */
export class PageWalker {
  private readonly maskLo: number;
  private readonly maskHi: number;

  constructor(
    private readonly memory: HostMemory,
    readonly cBit: number | null,
  ) {
    this.maskLo = addrMaskLo(cBit);
    this.maskHi = addrMaskHi(cBit);
    this.upper = new UpperWalkCache(memory);
  }

  /** The full walk with every step (`iommu.walk`, the audit). */
  walk(dte: DecodedDte, iova: bigint, write: boolean): WalkResult {
    const result: WalkResult = {
      ok: false,
      spa: 0,
      sizeLg2: 0,
      read: dte.read,
      write: dte.write,
      steps: [],
      levelsRead: 0,
      leafLevel: 0,
      leafEntrySpa: -1,
      leafSpaBase: 0,
      leafIovaBase: 0n,
    };
    if (!dte.valid || !dte.translationValid) return fail(result, 'dte-invalid', false);
    if (dte.mode === DTE_MODE_PASS_THROUGH || dte.mode === DTE_MODE_RESERVED) return fail(result, 'bad-mode', false);
    // Mode m covers IOVA bits 12+9m-1:0, mode 6 all 64 (hardware.md §3.2).
    if (iova < 0n || iova >= (MODE_LIMIT[dte.mode] as bigint)) return fail(result, 'beyond-mode', false);
    const out = this.scratch;
    startWalk(out, dte);
    this.descend(dte, Number(iova >> 12n), write, out, result.steps);
    result.read = out.read;
    result.write = out.write;
    result.levelsRead = out.levelsRead;
    result.leafLevel = out.leafLevel;
    result.leafEntrySpa = out.leafEntrySpa;
    if (out.sizeLg2 !== 0) {
      result.sizeLg2 = out.sizeLg2;
      result.leafSpaBase = out.leafSpaBasePfn * PAGE_BYTES;
      result.leafIovaBase = iova & (CLEAR_BELOW[out.sizeLg2] as bigint);
      result.spa = out.spaPfn * PAGE_BYTES + Number(iova & 0xfffn);
    }
    if (out.fault !== null) return fail(result, out.fault, out.present, out.permission);
    result.ok = true;
    return result;
  }

  /**
   * The DMA hot path: the same walk for the 4 KB page `iovaPfn`, into a caller-owned
   * record of plain numbers (no bigint, no steps, no allocation).
   */
  walkPfn(dte: DecodedDte, iovaPfn: number, write: boolean, out: PageWalk): void {
    startWalk(out, dte);
    if (!dte.valid || !dte.translationValid) return failPfn(out, 'dte-invalid', false, false);
    if (dte.mode === DTE_MODE_PASS_THROUGH || dte.mode === DTE_MODE_RESERVED) return failPfn(out, 'bad-mode', false, false);
    // Mode m < 6 covers pages below 2^(9m); mode 6 every page of a 64-bit IOVA.
    if (iovaPfn < 0 || (dte.mode < MAX_LEVEL && iovaPfn >= (POW2[9 * dte.mode] as number))) return failPfn(out, 'beyond-mode', false, false);
    if (dte.mode === 1) this.descend(dte, iovaPfn, write, out, null);
    else this.descendCached(dte, iovaPfn, write, out);
  }

  /** From the DTE root to the leaf for `iovaPfn` (mode and range checked, `out` started); `steps` only for `walk`. */
  private descend(dte: DecodedDte, iovaPfn: number, write: boolean, out: PageWalk, steps: WalkStep[] | null): void {
    this.finish(this.levels(dte.mode, 1, stripCBit(dte.root, this.cBit), iovaPfn, out, steps), iovaPfn, write, out);
  }

  /**
   * `descend` through the memo of upper levels (walk-cache.ts): levels mode..2 come
   * from it when it holds this 2 MB group of this DTE's tables, else are read and kept.
   */
  private descendCached(dte: DecodedDte, iovaPfn: number, write: boolean, out: PageWalk): void {
    const root = stripCBit(dte.root, this.cBit);
    const cache = this.upper;
    const group = Math.floor(iovaPfn / UPPER_GROUP_PAGES);
    const dteBits = dte.mode | (dte.read ? 8 : 0) | (dte.write ? 16 : 0);
    const slot = cache.slot(root, dteBits, group);
    let outcome: number;
    if (cache.holds(slot, root, dteBits, group)) outcome = cache.restore(slot, out);
    else {
      // Level by level, to note each table page read (the memo watches them).
      const pfns = this.upperPfns;
      let n = 0;
      outcome = root;
      for (let level = dte.mode; level >= 2 && outcome >= 0; level--) {
        outcome = this.levels(level, level, outcome, iovaPfn, out, null);
        pfns[n++] = Math.floor(out.leafEntrySpa / PAGE_BYTES);
      }
      cache.store(slot, root, dteBits, group, outcome, out, pfns, n);
    }
    if (outcome >= 0) outcome = this.levels(1, 1, outcome, iovaPfn, out, null);
    this.finish(outcome, iovaPfn, write, out);
  }

  /**
   * Reads levels `from` down to `to` from the table at `tableSpa`. Returns the SPA of
   * the next table when level `to` points at one (the walk goes on below it),
   * UPPER_LEAF when a leaf was found (its size and SPA base in `out`, the rest for
   * `finish`), or UPPER_FAULT with the fault in `out`.
   */
  private levels(from: number, to: number, tableSpa: number, iovaPfn: number, out: PageWalk, steps: WalkStep[] | null): number {
    for (let level = from; level >= to; level--) {
      const entrySpa = tableSpa + levelIndexPfn(iovaPfn, level) * 8;
      if (steps !== null) steps.push({ level, entrySpa, value: this.memory.word(entrySpa) });
      out.levelsRead++;
      out.leafLevel = level;
      out.leafEntrySpa = entrySpa;
      const view = this.tableView(level, Math.floor(entrySpa / PAGE_BYTES));
      // entrySpa is a non-negative integer: & keeps its low 12 bits exactly (ToInt32
      // is modulo 2^32).
      const half = (entrySpa & (PAGE_BYTES - 1)) >>> 2;
      const lo = view === undefined ? 0 : (view[half] as number);
      const hi = view === undefined ? 0 : (view[half + 1] as number);
      if (!ptePresentLo(lo)) return failUpper(out, 'not-present', false);
      out.read &&= pteReadHi(hi);
      out.write &&= pteWriteHi(hi);
      const nextLevel = pteNextLevelLo(lo);
      const addr = pteAddressMasked(lo, hi, this.maskLo, this.maskHi);
      if (nextLevel === NL_DEFAULT_LEAF || nextLevel === NL_SIZED_LEAF) {
        const sizeLg2 = nextLevel === NL_DEFAULT_LEAF ? levelDefaultSizeLg2(level) : sizedLeafLg2Halves(lo & this.maskLo, hi & this.maskHi);
        if (!leafSizeAllowed(level, sizeLg2)) return failUpper(out, 'bad-leaf-size', true);
        // Allowed sizes are at most 2^51: the offsets are exact numbers.
        out.sizeLg2 = sizeLg2;
        out.leafSpaBasePfn = (addr - modPow2(addr, sizeLg2)) / PAGE_BYTES;
        return UPPER_LEAF;
      }
      if (nextLevel !== level - 1) return failUpper(out, 'bad-next-level', true);
      tableSpa = addr;
    }
    return tableSpa;
  }

  /** The end of a walk after `levels` down to level 1 gave `outcome`: the page in the leaf and the permission check. */
  private finish(outcome: number, iovaPfn: number, write: boolean, out: PageWalk): void {
    if (outcome === UPPER_FAULT) return;
    // Unreachable: level 1 always ends the walk (NL 1..6 at level 1 is a bad next level).
    if (outcome !== UPPER_LEAF) return failPfn(out, 'bad-next-level', true, false);
    const inLeaf = modPow2(iovaPfn, out.sizeLg2 - 12);
    out.leafIovaBasePfn = iovaPfn - inLeaf;
    out.spaPfn = out.leafSpaBasePfn + inLeaf;
    if (write ? !out.write : !out.read) return failPfn(out, 'permission', true, true);
    out.fault = null;
  }

  /** The memo of levels mode..2 (walk-cache.ts) and the table pages a fill read. */
  private readonly upper: UpperWalkCache;
  private readonly upperPfns = new Float64Array(MAX_LEVEL);

  private readonly scratch = newPageWalk();

  // The table page last read at each level and its view, while memory.viewEpoch
  // holds (a view is then still the page's storage): consecutive walks share their
  // upper tables, so most level reads skip HostMemory's Map lookup. Pages without
  // storage (read as zero) are not kept: a write may give them some.
  private readonly viewPfn = new Float64Array(MAX_LEVEL + 1).fill(-1);
  private readonly views: Array<Uint32Array | undefined> = new Array<Uint32Array | undefined>(MAX_LEVEL + 1).fill(undefined);
  private viewEpoch = -1;

  /** memory.pageHalves(pfn), through the per-level cache. */
  private tableView(level: number, pfn: number): Uint32Array | undefined {
    const memory = this.memory;
    if (memory.viewEpoch !== this.viewEpoch) {
      this.viewPfn.fill(-1);
      this.views.fill(undefined);
      this.viewEpoch = memory.viewEpoch;
    }
    if (this.viewPfn[level] === pfn) return this.views[level];
    const view = memory.pageHalves(pfn);
    if (view !== undefined) {
      this.viewPfn[level] = pfn;
      this.views[level] = view;
    }
    return view;
  }
}

/** A walk's record before the first level: the DTE's permissions, nothing read. */
function startWalk(out: PageWalk, dte: DecodedDte): void {
  out.read = dte.read;
  out.write = dte.write;
  out.levelsRead = 0;
  out.leafLevel = 0;
  out.leafEntrySpa = -1;
  out.sizeLg2 = 0;
  out.spaPfn = 0;
  out.leafSpaBasePfn = 0;
  out.leafIovaBasePfn = 0;
}

function failPfn(out: PageWalk, reason: WalkFaultReason, present: boolean, permission: boolean): void {
  out.fault = reason;
  out.present = present;
  out.permission = permission;
}

/** failPfn for `levels`: records the fault and returns UPPER_FAULT. */
function failUpper(out: PageWalk, reason: WalkFaultReason, present: boolean): number {
  failPfn(out, reason, present, false);
  return UPPER_FAULT;
}

function fail(result: WalkResult, reason: WalkFaultReason, present: boolean, permission = false): WalkResult {
  result.ok = false;
  result.fault = { type: IO_PAGE_FAULT_TYPE, typeName: 'IO_PAGE_FAULT', reason, present, permission };
  return result;
}
