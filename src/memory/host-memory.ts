/**
 * Host physical memory (protocol/README.md §7): a sparse SPA space of
 * 64-bit little-endian words. A page exists only once written with a non-zero
 * word; untouched memory reads as zero and costs nothing, and a page with a few
 * words holds only those (PageStore).
 *
 * Addresses (SPA) are plain numbers: every SPA is below 2^52, exact in a double.
 * Words are bigint. The host view bypasses the RMP, like a debugger.
 *
 * Hot loops (table walks, the audit) read a word as two 32-bit halves through a
 * Uint32Array view of the same page buffer instead (ARCHITECTURE.md, "Value
 * conventions inside the domain": every BigInt operation allocates). Word i of a page
 * is view
 * elements 2i (bits 31:0) and 2i+1 (bits 63:32): that needs a little-endian host,
 * which every platform Node 20 ships for is; the module refuses to load otherwise.
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import { DeadEntries } from '../util/dead-entries.js';

export const PAGE_SHIFT = 12;
export const PAGE_BYTES = 4096;
export const WORDS_PER_PAGE = 512;
export const DEFAULT_MEMORY_BYTES = 64 * 2 ** 30; // 64 GiB

/** Uint32Array elements of a page: two per 64-bit word. */
export const HALVES_PER_PAGE = 2 * WORDS_PER_PAGE;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error('HostMemory reads 64-bit words as 32-bit halves and needs a little-endian host');
}

/**
 * A page's storage: all 512 words, or, while at most SPARSE_MAX_WORDS of them are
 * non-zero, only those (word index -> value). protocol/README.md §1.3: a single
 * word written to a new page cost a 4 KB page (4.6 KiB of RSS); a small Map costs
 * a few hundred bytes, and a page becomes dense when a walker wants its halves or
 * its ninth word is written.
 */
export type PageStore = BigUint64Array | Map<number, bigint>;

/** Non-zero words a page keeps in its sparse form before it becomes a full page. */
export const SPARSE_MAX_WORDS = 8;

/**
 * Page stores that are shared (by a snapshot or a dump cache) and must not change:
 * a write to one copies it first (copy-on-write, protocol/README.md §12). Module-wide,
 * since a snapshot's pages move to another HostMemory on revert.
 */
const FROZEN = new WeakSet<PageStore>();

/** Bytes a page store holds, about (for snapshot accounting). */
export function pageStoreBytes(page: PageStore): number {
  return page instanceof BigUint64Array ? PAGE_BYTES : 64 + 48 * page.size;
}

/**
 * Told about writes to the pages it watches (the IOMMU keeps its domain index and
 * its set of live table pages up to date this way, instead of rescanning tables on
 * every smash). Called after the word is written.
 */
export interface MemoryWatcher {
  watches(pfn: number): boolean;
  wordWritten(pfn: number, wordIndex: number, oldValue: bigint): void;
  /** Pages were dropped or replaced wholesale (zeroPages of a watched page, restorePages). */
  invalidated(): void;
}

export class HostMemory {
  readonly sizeBytes: number;
  private watchers: MemoryWatcher[] = [];
  /** 4 KB page number -> the page's words (see PageStore). */
  private pages = new Map<number, PageStore>();
  /** Sparse pages emptied in place by zeroPages, swept now and then (dead-entries.ts). */
  private readonly emptied = new DeadEntries<number, PageStore>(isEmptySparse);
  /**
   * 4 KB page number -> a Uint32Array view of the same buffer as `pages`, made on
   * first number read of the page (in practice: table pages only). Dropped with the
   * page (zeroPages, restorePages, a copy-on-write), so it never outlives its buffer.
   */
  private readonly halves = new Map<number, Uint32Array>();
  /**
   * Bumped whenever a view pageHalves gave may stop being its page's storage (the
   * halves entries are dropped: a copy-on-write, zeroPages, a restore). While it
   * holds, a view is still the live page, so a reader may keep it (the page walker
   * keeps one table view per level instead of a Map lookup per level read).
   */
  viewEpoch = 0;

  constructor(sizeBytes: number = DEFAULT_MEMORY_BYTES) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % PAGE_BYTES !== 0) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `memory size must be a positive multiple of 4 KB, got ${sizeBytes}`);
    }
    this.sizeBytes = sizeBytes;
  }

  contains(spa: number, bytes = 8): boolean {
    return Number.isSafeInteger(spa) && spa >= 0 && spa + bytes <= this.sizeBytes;
  }

  /** Throws a misuse error unless [spa, spa + count*8) is inside memory and 8-byte aligned. */
  checkRange(spa: number, count: number): void {
    if (!Number.isSafeInteger(spa) || spa % 8 !== 0) {
      throw new EmuError(ERROR_CODES.MISALIGNED, `spa ${safeHex(spa)} is not 8-byte aligned`, { spa });
    }
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `count must be a non-negative integer, got ${count}`);
    }
    if (spa < 0 || spa + count * 8 > this.sizeBytes) {
      throw new EmuError(ERROR_CODES.OUT_OF_RANGE, `spa range ${safeHex(spa)}+${count * 8} bytes is outside host memory (size ${toHex(this.sizeBytes)})`, { spa });
    }
  }

  read64(spa: number): bigint {
    this.checkRange(spa, 1);
    return this.word(spa);
  }

  /** Unchecked read for walkers that validated the address already. */
  word(spa: number): bigint {
    const page = this.pages.get(Math.floor(spa / PAGE_BYTES));
    if (page === undefined) return 0n;
    const i = (spa % PAGE_BYTES) >>> 3;
    return page instanceof BigUint64Array ? (page[i] as bigint) : (page.get(i) ?? 0n);
  }

  /**
   * Bits 31:0 of the word at `spa`, as an unsigned number. Unchecked, like word():
   * for walkers that validated the address already; spa must be 8-byte aligned.
   */
  wordLo(spa: number): number {
    const page = this.pages.get(Math.floor(spa / PAGE_BYTES));
    if (page === undefined) return 0;
    if (!(page instanceof BigUint64Array)) return Number((page.get((spa % PAGE_BYTES) >>> 3) ?? 0n) & 0xffff_ffffn);
    const view = this.pageHalves(Math.floor(spa / PAGE_BYTES)) as Uint32Array;
    return view[(spa % PAGE_BYTES) >>> 2] as number;
  }

  /** Bits 63:32 of the word at `spa`, as an unsigned number (see wordLo). */
  wordHi(spa: number): number {
    const page = this.pages.get(Math.floor(spa / PAGE_BYTES));
    if (page === undefined) return 0;
    if (!(page instanceof BigUint64Array)) return Number((page.get((spa % PAGE_BYTES) >>> 3) ?? 0n) >> 32n);
    const view = this.pageHalves(Math.floor(spa / PAGE_BYTES)) as Uint32Array;
    return view[((spa % PAGE_BYTES) >>> 2) + 1] as number;
  }

  /**
   * A page's words as 1024 32-bit halves (word i = elements 2i low, 2i+1 high), or
   * undefined when the page has no storage (it reads as all zero). One Map lookup
   * for a loop over a whole table. The view shares the page's buffer: read it only,
   * and do not keep it across writes (a write may give the page new storage). A
   * sparse page becomes a full one here.
   */
  pageHalves(pfn: number): Uint32Array | undefined {
    let view = this.halves.get(pfn);
    if (view === undefined) {
      let page = this.pages.get(pfn);
      if (page === undefined || isEmptySparse(page)) return undefined;
      if (!(page instanceof BigUint64Array)) {
        page = densify(page);
        this.pages.set(pfn, page);
      }
      view = new Uint32Array(page.buffer, page.byteOffset, HALVES_PER_PAGE);
      this.halves.set(pfn, view);
    }
    return view;
  }

  write64(spa: number, value: bigint): void {
    this.checkRange(spa, 1);
    this.setWord(spa, value);
  }

  /** Unchecked write; value is truncated to 64 bits. */
  setWord(spa: number, value: bigint): void {
    if (this.watchers.length === 0) {
      this.storeWord(spa, value);
      return;
    }
    const pfn = Math.floor(spa / PAGE_BYTES);
    const i = (spa % PAGE_BYTES) >>> 3;
    const old = this.word(spa);
    this.storeWord(spa, value);
    for (const w of this.watchers) if (w.watches(pfn)) w.wordWritten(pfn, i, old);
  }

  /** setWord without telling the watchers. */
  private storeWord(spa: number, value: bigint): void {
    const pfn = Math.floor(spa / PAGE_BYTES);
    const i = (spa % PAGE_BYTES) >>> 3;
    let page = this.pages.get(pfn);
    if (page === undefined) {
      if (value === 0n) return;
      this.pages.set(pfn, new Map([[i, BigInt.asUintN(64, value)]]));
      return;
    }
    if (FROZEN.has(page)) {
      page = page instanceof BigUint64Array ? page.slice() : new Map(page);
      this.pages.set(pfn, page);
      if (this.halves.delete(pfn)) this.viewEpoch++;
    }
    if (page instanceof BigUint64Array) {
      page[i] = BigInt.asUintN(64, value);
      return;
    }
    const v = BigInt.asUintN(64, value);
    if (v === 0n) page.delete(i);
    else if (page.has(i) || page.size < SPARSE_MAX_WORDS) page.set(i, v);
    else {
      const dense = densify(page);
      dense[i] = v;
      this.pages.set(pfn, dense);
    }
  }

  /** Adds a watcher; returns the function that removes it. */
  watch(w: MemoryWatcher): () => void {
    this.watchers.push(w);
    return () => {
      this.watchers = this.watchers.filter((x) => x !== w);
    };
  }

  readWords(spa: number, count: number): bigint[] {
    this.checkRange(spa, count);
    const out = new Array<bigint>(count);
    for (let i = 0; i < count; i++) out[i] = this.word(spa + i * 8);
    return out;
  }

  writeWords(spa: number, values: readonly bigint[]): void {
    this.checkRange(spa, values.length);
    for (let i = 0; i < values.length; i++) this.setWord(spa + i * 8, values[i] as bigint);
  }

  /**
   * Zeroes `pages` 4 KB pages starting at a page-aligned spa (drops their storage).
   * A sparse page nobody shares is emptied in place instead: a pool page handed out
   * again and again (a TMPM command page per call) would otherwise leave and re-enter
   * `pages`, and V8 rehashes a Map of ~1,000 entries under that churn. An empty
   * sparse page reads, walks and dumps as an unbacked one.
   */
  zeroPages(spa: number, pages: number): void {
    const first = Math.floor(spa / PAGE_BYTES);
    for (let i = 0; i < pages; i++) {
      const page = this.pages.get(first + i);
      if (page instanceof Map && !FROZEN.has(page)) {
        page.clear();
        this.emptied.died(this.pages);
      } else if (page !== undefined) this.pages.delete(first + i);
      if (this.halves.delete(first + i)) this.viewEpoch++;
    }
    for (const w of this.watchers) {
      for (let i = 0; i < pages; i++) {
        if (w.watches(first + i)) {
          w.invalidated();
          break;
        }
      }
    }
  }

  /** Whether a page has storage (it has been written non-zero at some time). */
  isPageBacked(pfn: number): boolean {
    const page = this.pages.get(pfn);
    return page !== undefined && !isEmptySparse(page);
  }

  /** Backed pages, for state dumps: [pfn, words] pairs in pfn order (sparse pages as full copies). */
  backedPages(): Array<[number, BigUint64Array]> {
    return [...this.pages.entries()]
      .filter(([, page]) => !isEmptySparse(page))
      .sort((a, b) => a[0] - b[0])
      .map(([pfn, page]) => [pfn, page instanceof BigUint64Array ? page : densify(page)]);
  }

  backedPageCount(): number {
    let n = 0;
    for (const page of this.pages.values()) if (!isEmptySparse(page)) n++;
    return n;
  }

  /** Bytes the pages' storage takes, about (pageStoreBytes summed). */
  storedBytes(): number {
    let bytes = 0;
    for (const page of this.pages.values()) bytes += pageStoreBytes(page);
    return bytes;
  }

  /**
   * Every page's storage, shared: the stores are frozen, so this map stays as it is
   * now while later writes copy the page they change (copy-on-write). A snapshot or
   * a dump costs one map entry per page, and pages nobody writes are never copied.
   */
  sharePages(): ReadonlyMap<number, PageStore> {
    for (const page of this.pages.values()) FROZEN.add(page);
    return new Map(this.pages);
  }

  /** Replaces the whole content with pages from sharePages() (revert): shared, not copied. */
  restoreShared(pages: ReadonlyMap<number, PageStore>): void {
    for (const page of pages.values()) FROZEN.add(page);
    this.pages = new Map(pages);
    this.halves.clear();
    this.viewEpoch++;
    for (const w of this.watchers) w.invalidated();
  }

  /** Replaces the whole content (state load, revert). */
  restorePages(pages: Iterable<[number, BigUint64Array]>): void {
    this.pages.clear();
    this.halves.clear();
    this.viewEpoch++;
    for (const [pfn, words] of pages) this.pages.set(pfn, words.slice());
    for (const w of this.watchers) w.invalidated();
  }
}

/** A sparse page as a full one (a new buffer; the map is left as it was). */
/** A sparse page with no word left (zeroed in place, or every word written 0): reads as unbacked memory. */
function isEmptySparse(page: PageStore): boolean {
  return page instanceof Map && page.size === 0;
}

function densify(page: ReadonlyMap<number, bigint>): BigUint64Array {
  const dense = new BigUint64Array(WORDS_PER_PAGE);
  for (const [i, v] of page) dense[i] = v;
  return dense;
}

function safeHex(n: number): string {
  return Number.isSafeInteger(n) && n >= 0 ? toHex(n) : String(n);
}
