/**
 * Writes and clears real AMD v1 tables in host memory as a host driver does
 * (protocol/README.md §6.6, `iommu.map` / `iommu.unmap`):
 * - leaves are PR | IR/IW as asked | FC only when asked; NL=0 at a level's default
 *   size, NL=7 for the larger sizes, the same value in every slot the page covers
 *   (hardware.md §3.3);
 * - missing tables come from the page pool, zeroed, behind PR | NL | addr | IR | IW
 *   pointers (§3.1); tables are never freed;
 * - mapping over a present entry is refused before anything is written;
 * - unmap follows iommupt (hardware.md §5): starting inside a leaf is refused, ending
 *   inside one removes the whole leaf (all replicas).
 * IOVAs are handled as 4 KB page numbers (numbers: an IOVA page is below 2^52).
 */
import type { HostMemory } from '../memory/host-memory.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import type { PagePool } from '../memory/page-pool.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import {
  decodePte,
  encodeTablePointer,
  ENTRIES_PER_TABLE,
  leafLevelForSize,
  leafTemplate,
  levelDefaultSizeLg2,
  levelIndexPfn,
  MAX_LEVEL,
  MIN_LEVEL,
  addressMask,
  pteLeafSizeLg2,
  pteNextLevel,
  ptePresent,
  pteTarget,
  stripCBit,
} from './pte.js';

export interface MapRequest {
  iova: bigint;
  spa: number;
  /** Bytes, a multiple of the leaf size. */
  length: number;
  /** log2 of the leaf size: 12, 21, 30 or an NL=7 size (hardware.md §3.2). */
  sizeLg2: number;
  read: boolean;
  write: boolean;
  fc?: boolean;
}

export interface MapResult {
  /** The root and mode after the map (a new root when the mode was raised). */
  root: number;
  mode: number;
  raised: boolean;
  tablesAllocated: number;
  leaves: number;
}

const IOVA_LIMIT = 1n << 64n;
const PFN_LIMIT = 2 ** 52;

/** 4 KB pages one entry covers at `level`. */
function entryPages(level: number): number {
  return 2 ** (9 * (level - 1));
}

/** 4 KB pages a table of mode `mode` covers (mode 6: all 64 bits). */
function modePages(mode: number): number {
  return mode === MAX_LEVEL ? PFN_LIMIT : 2 ** (9 * mode);
}

export class IommuMapper {
  private readonly addrMask: bigint;

  constructor(
    private readonly memory: HostMemory,
    private readonly pool: PagePool,
    readonly cBit: number | null,
  ) {
    this.addrMask = addressMask(cBit);
  }

  /** The smallest mode covering `iovaEnd` (the last byte) and holding a leaf of `sizeLg2`. */
  requiredMode(iovaEnd: bigint, sizeLg2 = 12): number {
    let mode = Math.max(MIN_LEVEL, leafLevelForSize(sizeLg2));
    while (mode < MAX_LEVEL && iovaEnd >> BigInt(levelDefaultSizeLg2(mode + 1)) !== 0n) mode++;
    return mode;
  }

  /**
   * Linux increase_top: new top tables whose entry 0 points at the old root, one per
   * added level. Returns the new root; the caller rewrites the DTEs.
   */
  raiseMode(root: number, fromMode: number, toMode: number): number {
    checkMode(fromMode);
    checkMode(toMode);
    if (toMode <= fromMode) throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `cannot raise mode ${fromMode} to ${toMode}`);
    let top = root;
    for (let level = fromMode + 1; level <= toMode; level++) {
      const table = this.pool.alloc(1);
      this.memory.setWord(table, encodeTablePointer(top, level - 1));
      top = table;
    }
    return top;
  }

  map(root: number, mode: number, req: MapRequest): MapResult {
    checkMode(mode);
    const leafLevel = leafLevelForSize(req.sizeLg2);
    if (!Number.isInteger(req.sizeLg2) || leafLevel === 0) {
      throw invalid('sizeLg2', `sizeLg2 ${String(req.sizeLg2)} is not a leaf size any level allows (hardware.md §3.2)`);
    }
    const size = 2 ** req.sizeLg2;
    if (!Number.isSafeInteger(req.length) || req.length <= 0 || req.length % size !== 0) {
      throw invalid('length', `length ${String(req.length)} must be a positive multiple of the leaf size 2^${req.sizeLg2}`);
    }
    if (typeof req.iova !== 'bigint' || req.iova < 0n || req.iova + BigInt(req.length) > IOVA_LIMIT || req.iova % BigInt(size) !== 0n) {
      throw invalid('iova', `iova ${String(req.iova)} must be a 2^${req.sizeLg2}-aligned 64-bit IOVA with the range inside 2^64`);
    }
    if (!Number.isSafeInteger(req.spa) || req.spa < 0 || req.spa % size !== 0) {
      throw invalid('spa', `spa ${String(req.spa)} must be 2^${req.sizeLg2}-aligned`);
    }
    // An SPA with the C-bit set is the same SPA: bounds are checked without it; the
    // leaves keep the address bits as given (Linux sets the C-bit in its PTEs), and
    // the walker strips it.
    if (stripCBit(req.spa, this.cBit) + req.length > this.memory.sizeBytes) {
      throw new EmuError(ERROR_CODES.OUT_OF_RANGE, `spa range ${toHex(req.spa)}+${toHex(req.length)} is outside host memory`, { field: 'spa' });
    }
    const template = leafTemplate({ sizeLg2: req.sizeLg2, level: leafLevel, read: req.read, write: req.write, fc: req.fc === true });
    const startPfn = Number(req.iova >> 12n);
    const endPfn = startPfn + req.length / PAGE_BYTES;
    const tableRoot = this.tableRoot(root);

    // Everything is checked before the first write: refusal changes nothing.
    this.checkFree(tableRoot, mode, leafLevel, startPfn, Math.min(endPfn, modePages(mode)));

    const result: MapResult = { root, mode, raised: false, tablesAllocated: 0, leaves: 0 };
    const needed = this.requiredMode(req.iova + BigInt(req.length) - 1n, req.sizeLg2);
    if (needed > mode) {
      result.root = this.raiseMode(root, mode, needed);
      result.mode = needed;
      result.raised = true;
      result.tablesAllocated += needed - mode;
    }
    const writer: LeafWriter = {
      leafLevel,
      leafPages: size / PAGE_BYTES,
      replicas: 2 ** (req.sizeLg2 - levelDefaultSizeLg2(leafLevel)),
      template,
      spaMinusIovaPfn: req.spa / PAGE_BYTES - startPfn,
      result,
    };
    this.write(this.tableRoot(result.root), result.mode, startPfn, endPfn, writer);
    return result;
  }

  /** Removes leaves in [iova, iova + length); returns the bytes of the leaves removed. */
  unmap(root: number, mode: number, iova: bigint, length: number): { unmappedBytes: number } {
    checkMode(mode);
    if (typeof iova !== 'bigint' || iova < 0n || iova >= IOVA_LIMIT || iova % 4096n !== 0n) {
      throw invalid('iova', `iova ${String(iova)} must be a 4 KB-aligned 64-bit IOVA`);
    }
    if (!Number.isSafeInteger(length) || length <= 0 || length % PAGE_BYTES !== 0) {
      throw invalid('length', `length ${String(length)} must be a positive multiple of 4 KB`);
    }
    const startPfn = Number(iova >> 12n);
    const endPfn = Math.min(startPfn + length / PAGE_BYTES, modePages(mode));
    if (startPfn >= endPfn) return { unmappedBytes: 0 };
    const tableRoot = this.tableRoot(root);
    const inside = this.leafAround(tableRoot, mode, startPfn);
    if (inside !== null && inside.basePfn < startPfn) {
      throw invalid('iova', `unmap starts inside a 2^${inside.sizeLg2}-byte leaf at IOVA ${toHex(BigInt(inside.basePfn) << 12n)}; iommupt never splits a leaf`);
    }
    return { unmappedBytes: this.clear(tableRoot, mode, startPfn, endPfn) };
  }

  private tableRoot(root: number): number {
    const r = stripCBit(root, this.cBit);
    if (r % PAGE_BYTES !== 0 || !this.memory.contains(r, PAGE_BYTES)) {
      throw new EmuError(ERROR_CODES.OUT_OF_RANGE, `table root ${toHex(r)} must be a 4 KB-aligned page inside memory`, { field: 'root' });
    }
    return r;
  }

  /** Throws when a slot the map would write, or a leaf above it, is present. */
  private checkFree(tableSpa: number, level: number, leafLevel: number, startPfn: number, endPfn: number): void {
    const span = entryPages(level);
    for (let pfn = startPfn; pfn < endPfn;) {
      const entryBase = Math.floor(pfn / span) * span;
      const next = Math.min(entryBase + span, endPfn);
      const entrySpa = tableSpa + levelIndexPfn(pfn, level) * 8;
      const value = this.memory.word(entrySpa);
      if (ptePresent(value)) {
        const e = decodePte(value, level, this.cBit);
        if (level === leafLevel || e.leaf || e.nextLevel !== level - 1 || e.table === undefined) {
          throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `IOVA ${toHex(BigInt(pfn) << 12n)} is already mapped: level-${level} entry at ${toHex(entrySpa)} is present (${toHex(value)}); unmap first`, {
            field: 'iova',
            entrySpa,
            level,
          });
        }
        this.checkFree(e.table, level - 1, leafLevel, pfn, next);
      }
      pfn = next;
    }
  }

  private write(tableSpa: number, level: number, startPfn: number, endPfn: number, w: LeafWriter): void {
    if (level === w.leafLevel) {
      let slot = tableSpa + levelIndexPfn(startPfn, level) * 8;
      for (let pfn = startPfn; pfn < endPfn; pfn += w.leafPages) {
        const value = w.template | BigInt((pfn + w.spaMinusIovaPfn) * PAGE_BYTES);
        for (let r = 0; r < w.replicas; r++, slot += 8) this.memory.setWord(slot, value);
        w.result.leaves++;
      }
      return;
    }
    const span = entryPages(level);
    for (let pfn = startPfn; pfn < endPfn;) {
      const next = Math.min(Math.floor(pfn / span) * span + span, endPfn);
      const entrySpa = tableSpa + levelIndexPfn(pfn, level) * 8;
      const value = this.memory.word(entrySpa);
      let child: number;
      if (ptePresent(value)) {
        child = decodePte(value, level, this.cBit).table as number;
      } else {
        child = this.pool.alloc(1);
        this.memory.setWord(entrySpa, encodeTablePointer(child, level - 1));
        w.result.tablesAllocated++;
      }
      this.write(child, level - 1, pfn, next, w);
      pfn = next;
    }
  }

  /** The leaf containing `pfn`, if the tables map it. */
  private leafAround(tableSpa: number, mode: number, pfn: number): { basePfn: number; sizeLg2: number } | null {
    for (let level = mode; level >= MIN_LEVEL; level--) {
      const value = this.memory.word(tableSpa + levelIndexPfn(pfn, level) * 8);
      if (!ptePresent(value)) return null;
      const e = decodePte(value, level, this.cBit);
      if (e.leaf) {
        const pages = 2 ** ((e.sizeLg2 as number) - 12);
        return { basePfn: Math.floor(pfn / pages) * pages, sizeLg2: e.sizeLg2 as number };
      }
      if (e.nextLevel !== level - 1 || e.table === undefined) return null;
      tableSpa = e.table;
    }
    return null;
  }

  private clear(tableSpa: number, level: number, startPfn: number, endPfn: number): number {
    const span = entryPages(level);
    let bytes = 0;
    for (let pfn = startPfn; pfn < endPfn;) {
      const entryBase = Math.floor(pfn / span) * span;
      let next = entryBase + span;
      const value = this.memory.word(tableSpa + levelIndexPfn(pfn, level) * 8);
      if (ptePresent(value)) {
        const sizeLg2 = pteLeafSizeLg2(value, level, this.addrMask);
        if (sizeLg2 !== 0) {
          const leafPages = 2 ** (sizeLg2 - 12);
          const leafBase = Math.floor(pfn / leafPages) * leafPages;
          // Every replica of an NL=7 leaf (hardware.md §3.3), clamped to this table.
          const first = leafPages >= span ? levelIndexPfn(leafBase, level) : levelIndexPfn(pfn, level);
          const slots = Math.max(1, Math.floor(leafPages / span));
          const last = Math.min(first + slots, ENTRIES_PER_TABLE);
          for (let i = first; i < last; i++) this.memory.setWord(tableSpa + i * 8, 0n);
          bytes += leafPages * PAGE_BYTES;
          next = Math.max(next, leafBase + leafPages);
        } else if (pteNextLevel(value) === level - 1) {
          bytes += this.clear(pteTarget(value, this.addrMask), level - 1, pfn, Math.min(next, endPfn));
        }
      }
      pfn = next;
    }
    return bytes;
  }
}

interface LeafWriter {
  leafLevel: number;
  leafPages: number;
  replicas: number;
  template: bigint;
  spaMinusIovaPfn: number;
  result: MapResult;
}

function checkMode(mode: number): void {
  if (!Number.isInteger(mode) || mode < MIN_LEVEL || mode > MAX_LEVEL) {
    throw invalid('mode', `mode must be 1..6 (hardware.md §3.4), got ${String(mode)}`);
  }
}

function invalid(field: string, message: string): EmuError {
  return new EmuError(ERROR_CODES.INVALID_ARGUMENT, message, { field });
}
