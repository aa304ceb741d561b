/**
 * The IOTLB: leaf translations cached per (domain, 4 KB IOVA page) (protocol/README.md
 * §6.2). It changes only through invalidation commands, `iommu.setDte` and the
 * firmware, so a host that edits tables without invalidating keeps stale entries,
 * as on hardware.
 *
 * Bounded and set-associative, as hardware IOTLBs are: `capacity` entries (the
 * scenario's `iotlbEntries`, a power of two, default DEFAULT_IOTLB_ENTRIES) in sets
 * of WAYS ways, the set chosen by the low bits of the IOVA page number mixed with the
 * domain. Storage is parallel typed arrays in blocks allocated on first use, so a
 * lookup allocates nothing and an idle platform costs nothing.
 *
 * The content of a set decides everything about it: its ways are kept sorted by
 * (domain, page), and when a full set takes a new entry the victim is the way a hash
 * of the new key names. A hit changes nothing (no recency bits), so a run of hits
 * can be computed in closed form, and a state document (the entries, sorted) rebuilds
 * an IOTLB that evicts exactly as the original would.
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { POW2 } from '../util/pow2.js';
import { eachSteps, runSteps, sortSteps, type Steps } from '../util/steps.js';

export interface IotlbEntry {
  domainId: number;
  /** The cached 4 KB IOVA page. */
  iovaPfn: number;
  /** The leaf the translation came from: IOVA base page, size, SPA base page. */
  leafIovaBasePfn: number;
  leafSizeLg2: number;
  leafSpaBasePfn: number;
  read: boolean;
  write: boolean;
  /** Levels the filling walk read (kept for audit and statistics). */
  levelsRead: number;
}

export interface IotlbState {
  entries: IotlbEntry[];
}

/** SPA page of a cached IOVA page. */
export function iotlbSpaPfn(e: IotlbEntry): number {
  return e.leafSpaBasePfn + (e.iovaPfn - e.leafIovaBasePfn);
}

/** Ways per set. */
export const IOTLB_WAYS = 8;
/**
 * Default capacity: 2^19 entries (512 Ki 4 KB pages = 2 GiB of IOVA per platform),
 * more than the default scenario maps (1 GiB + 64 MiB), so every page it maps stays
 * cached once touched, as with the unbounded cache this replaced.
 */
export const DEFAULT_IOTLB_ENTRIES = 2 ** 19;
export const MIN_IOTLB_ENTRIES = IOTLB_WAYS;
export const MAX_IOTLB_ENTRIES = 2 ** 24;

/** Entries per storage block (512 sets). */
const BLOCK_ENTRIES = 4096;
const EMPTY = -1;
const PERM_READ = 1;
const PERM_WRITE = 2;

class Block {
  readonly dom = new Int32Array(BLOCK_ENTRIES).fill(EMPTY);
  readonly pfn = new Float64Array(BLOCK_ENTRIES);
  readonly leafIova = new Float64Array(BLOCK_ENTRIES);
  readonly leafSpa = new Float64Array(BLOCK_ENTRIES);
  readonly sizeLg2 = new Uint8Array(BLOCK_ENTRIES);
  readonly perm = new Uint8Array(BLOCK_ENTRIES);
  readonly levels = new Uint8Array(BLOCK_ENTRIES);
}

interface DomainCount {
  count: number;
  /** Largest leaf cached since the domain was last emptied, in 4 KB pages. */
  maxLeafPages: number;
}

export function checkIotlbEntries(n: unknown): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < MIN_IOTLB_ENTRIES || n > MAX_IOTLB_ENTRIES || (n & (n - 1)) !== 0) {
    throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `iotlbEntries must be a power of two in ${MIN_IOTLB_ENTRIES}..${MAX_IOTLB_ENTRIES}, got ${String(n)}`, { field: 'iotlbEntries' });
  }
  return n;
}

export class Iotlb {
  readonly capacity: number;
  private readonly setMask: number;
  private readonly blocks: (Block | undefined)[];
  private readonly domains = new Map<number, DomainCount>();
  private count = 0;
  /** The domain noteLeaf counted last and its record (-1: none; see noteLeaf). */
  private lastDomainId = -1;
  private lastDomain: DomainCount | undefined = undefined;
  /** Entries evicted by inserts into full sets (since construction). */
  evictions = 0;
  /** Bumped on every change (insert, eviction, invalidation): callers cache against it. */
  version = 0;

  // The hit `probe` found (no allocation per lookup).
  hitLeafIovaBasePfn = 0;
  hitLeafSizeLg2 = 0;
  hitLeafSpaBasePfn = 0;
  hitRead = false;
  hitWrite = false;

  constructor(capacity: number = DEFAULT_IOTLB_ENTRIES) {
    this.capacity = checkIotlbEntries(capacity);
    this.setMask = capacity / IOTLB_WAYS - 1;
    this.blocks = new Array<Block | undefined>(Math.ceil(capacity / BLOCK_ENTRIES)).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  /** First slot of the set of (domainId, iovaPfn). `| 0` keeps the low 32 bits of a page number below 2^53. */
  private setBase(domainId: number, iovaPfn: number): number {
    return ((iovaPfn ^ Math.imul(domainId + 1, 0x61c88647)) & this.setMask) * IOTLB_WAYS;
  }

  /**
   * The hot path: true on a hit, with the entry in the hit* fields. Ways are kept
   * compact, so the scan stops at the first empty way.
   */
  probe(domainId: number, iovaPfn: number): boolean {
    const base = this.setBase(domainId, iovaPfn);
    const b = this.blocks[(base / BLOCK_ENTRIES) | 0];
    if (b === undefined) return false;
    const off = base % BLOCK_ENTRIES;
    const dom = b.dom;
    const pfn = b.pfn;
    for (let i = off, end = off + IOTLB_WAYS; i < end; i++) {
      const d = dom[i] as number;
      if (d === EMPTY) return false;
      if (d === domainId && pfn[i] === iovaPfn) {
        this.hitLeafIovaBasePfn = b.leafIova[i] as number;
        this.hitLeafSizeLg2 = b.sizeLg2[i] as number;
        this.hitLeafSpaBasePfn = b.leafSpa[i] as number;
        const p = b.perm[i] as number;
        this.hitRead = (p & PERM_READ) !== 0;
        this.hitWrite = (p & PERM_WRITE) !== 0;
        return true;
      }
    }
    return false;
  }

  lookup(domainId: number, iovaPfn: number): IotlbEntry | undefined {
    const base = this.setBase(domainId, iovaPfn);
    const b = this.blocks[(base / BLOCK_ENTRIES) | 0];
    if (b === undefined) return undefined;
    const off = base % BLOCK_ENTRIES;
    for (let i = off; i < off + IOTLB_WAYS; i++) {
      if (b.dom[i] === EMPTY) return undefined;
      if (b.dom[i] === domainId && b.pfn[i] === iovaPfn) return entryAt(b, i);
    }
    return undefined;
  }

  insert(entry: IotlbEntry): void {
    this.insertLeaf(entry.domainId, entry.iovaPfn, entry.leafIovaBasePfn, entry.leafSizeLg2, entry.leafSpaBasePfn, entry.read, entry.write, entry.levelsRead);
  }

  /** `insert` from the entry's fields (the walk path fills one per IOTLB miss: no record each). */
  insertLeaf(domainId: number, iovaPfn: number, leafIovaBasePfn: number, leafSizeLg2: number, leafSpaBasePfn: number, read: boolean, write: boolean, levelsRead: number): void {
    const base = this.setBase(domainId, iovaPfn);
    const bi = (base / BLOCK_ENTRIES) | 0;
    let b = this.blocks[bi];
    if (b === undefined) this.blocks[bi] = b = new Block();
    const off = base % BLOCK_ENTRIES;
    const end = off + IOTLB_WAYS;
    this.version++;
    // Replace in place when cached (same key, same sorted position).
    let used = off;
    for (; used < end && b.dom[used] !== EMPTY; used++) {
      if (b.dom[used] === domainId && b.pfn[used] === iovaPfn) {
        writeWay(b, used, domainId, iovaPfn, leafIovaBasePfn, leafSizeLg2, leafSpaBasePfn, read, write, levelsRead);
        this.noteLeaf(domainId, leafSizeLg2, 0);
        return;
      }
    }
    if (used === end) {
      // Full: the victim is the way the new key's hash names (content decides).
      const victim = off + (mix(domainId, iovaPfn) % IOTLB_WAYS);
      this.evictions++;
      this.dropCount(b.dom[victim] as number, 1);
      removeAt(b, victim, end);
      used--;
    }
    // Insert at the sorted position among used ways [off, used).
    let at = used;
    while (at > off && keyAfter(b, at - 1, domainId, iovaPfn)) {
      copyWay(b, at - 1, at);
      at--;
    }
    writeWay(b, at, domainId, iovaPfn, leafIovaBasePfn, leafSizeLg2, leafSpaBasePfn, read, write, levelsRead);
    this.count++;
    this.noteLeaf(domainId, leafSizeLg2, 1);
  }

  /**
   * Drops every cached entry of the domain whose leaf overlaps
   * [iovaBase, iovaBase + 2^sizeLg2) (protocol/README.md §6.3); returns how many.
   * Probes whichever is smaller: the pages that could hold an entry of an
   * overlapping leaf (the range widened by the domain's largest leaf), or every slot.
   */
  invalidateRange(domainId: number, iovaBase: bigint, sizeLg2: number): number {
    const d = this.domains.get(domainId);
    if (d === undefined) return 0;
    if (sizeLg2 >= 64) return this.invalidateDomain(domainId);
    if (!Number.isInteger(sizeLg2) || sizeLg2 < 12) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `invalidation size must be at least 2^12 bytes, got 2^${sizeLg2}`);
    }
    const pages = 2 ** (sizeLg2 - 12);
    const firstPfn = Number((iovaBase >> 12n) / BigInt(pages)) * pages;
    const endPfn = firstPfn + pages;
    const overlaps = (b: Block, i: number): boolean => {
      const lb = b.leafIova[i] as number;
      return b.dom[i] === domainId && lb < endPfn && lb + 2 ** ((b.sizeLg2[i] as number) - 12) > firstPfn;
    };
    const scanFrom = Math.max(0, firstPfn - d.maxLeafPages + 1);
    const scanTo = endPfn + d.maxLeafPages - 1;
    let dropped = 0;
    if (scanTo - scanFrom < d.count) {
      for (let pfn = scanFrom; pfn < scanTo; pfn++) dropped += this.dropWhere(this.setBase(domainId, pfn), (b, i) => b.pfn[i] === pfn && overlaps(b, i));
    } else {
      dropped = this.dropEverywhere(overlaps);
    }
    return this.finishDrop(domainId, dropped);
  }

  invalidateDomain(domainId: number): number {
    if (!this.domains.has(domainId)) return 0;
    return this.finishDrop(
      domainId,
      this.dropEverywhere((b, i) => b.dom[i] === domainId),
    );
  }

  invalidateAll(): number {
    const dropped = this.count;
    this.blocks.fill(undefined);
    this.domains.clear();
    this.lastDomainId = -1;
    this.count = 0;
    this.version++;
    return dropped;
  }

  /** Every cached entry, ordered by domain then IOVA page (audit, state dumps). */
  entries(): IotlbEntry[] {
    return runSteps(this.entrySteps());
  }

  /** entries() in steps (a yield after each storage block and in the sort): a state dump made in slices. */
  *entrySteps(): Steps<IotlbEntry[]> {
    const out: IotlbEntry[] = [];
    for (const b of this.blocks) {
      if (b === undefined) continue;
      for (let i = 0; i < BLOCK_ENTRIES; i++) if (b.dom[i] !== EMPTY) out.push(entryAt(b, i));
      yield;
    }
    return yield* sortSteps(out, (x, y) => x.domainId - y.domainId || x.iovaPfn - y.iovaPfn);
  }

  /** JSON-safe and exact; stale entries are kept as they are. */
  getState(): IotlbState {
    return { entries: this.entries() };
  }

  setState(state: IotlbState): void {
    runSteps(this.setStateSteps(state));
  }

  /** setState in steps (a yield every STEP_ITEMS entries): a state load made in slices. */
  *setStateSteps(state: IotlbState): Steps<void> {
    this.invalidateAll();
    yield* eachSteps(state.entries, (e) => this.insert(e));
  }

  // ---- internals --------------------------------------------------------------

  private noteLeaf(domainId: number, leafSizeLg2: number, added: number): void {
    // Fills come in runs of one domain: its record is kept at hand (dropped with it).
    let d = this.lastDomainId === domainId ? this.lastDomain : this.domains.get(domainId);
    if (d === undefined) this.domains.set(domainId, (d = { count: 0, maxLeafPages: 1 }));
    this.lastDomainId = domainId;
    this.lastDomain = d;
    d.count += added;
    const leafPages = POW2[leafSizeLg2 - 12] as number;
    if (leafPages > d.maxLeafPages) d.maxLeafPages = leafPages;
  }

  private dropCount(domainId: number, n: number): void {
    const d = this.domains.get(domainId);
    if (d === undefined) return;
    d.count -= n;
    this.count -= n;
    if (d.count === 0) {
      this.domains.delete(domainId);
      if (this.lastDomainId === domainId) this.lastDomainId = -1;
    }
  }

  private finishDrop(domainId: number, dropped: number): number {
    if (dropped > 0) {
      this.version++;
      this.dropCount(domainId, dropped);
    }
    return dropped;
  }

  /** Removes the ways of one set that match; returns how many. */
  private dropWhere(base: number, match: (b: Block, i: number) => boolean): number {
    const b = this.blocks[(base / BLOCK_ENTRIES) | 0];
    if (b === undefined) return 0;
    const off = base % BLOCK_ENTRIES;
    const end = off + IOTLB_WAYS;
    let dropped = 0;
    for (let i = off; i < end && b.dom[i] !== EMPTY;) {
      if (match(b, i)) {
        removeAt(b, i, end);
        dropped++;
      } else i++;
    }
    return dropped;
  }

  private dropEverywhere(match: (b: Block, i: number) => boolean): number {
    let dropped = 0;
    for (let bi = 0; bi < this.blocks.length; bi++) {
      if (this.blocks[bi] === undefined) continue;
      for (let s = 0; s < BLOCK_ENTRIES; s += IOTLB_WAYS) dropped += this.dropWhere(bi * BLOCK_ENTRIES + s, match);
    }
    return dropped;
  }
}

function mix(domainId: number, iovaPfn: number): number {
  let h = Math.imul((iovaPfn | 0) ^ Math.imul(domainId, 0x27d4eb2d), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ ((iovaPfn / 4294967296) | 0), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function keyAfter(b: Block, i: number, domainId: number, iovaPfn: number): boolean {
  const d = b.dom[i] as number;
  return d > domainId || (d === domainId && (b.pfn[i] as number) > iovaPfn);
}

function writeWay(b: Block, i: number, domainId: number, iovaPfn: number, leafIovaBasePfn: number, leafSizeLg2: number, leafSpaBasePfn: number, read: boolean, write: boolean, levelsRead: number): void {
  b.dom[i] = domainId;
  b.pfn[i] = iovaPfn;
  b.leafIova[i] = leafIovaBasePfn;
  b.leafSpa[i] = leafSpaBasePfn;
  b.sizeLg2[i] = leafSizeLg2;
  b.perm[i] = (read ? PERM_READ : 0) | (write ? PERM_WRITE : 0);
  b.levels[i] = levelsRead;
}

function copyWay(b: Block, from: number, to: number): void {
  b.dom[to] = b.dom[from] as number;
  b.pfn[to] = b.pfn[from] as number;
  b.leafIova[to] = b.leafIova[from] as number;
  b.leafSpa[to] = b.leafSpa[from] as number;
  b.sizeLg2[to] = b.sizeLg2[from] as number;
  b.perm[to] = b.perm[from] as number;
  b.levels[to] = b.levels[from] as number;
}

/** Removes way i of the set ending at `end`, shifting the later ways down. */
function removeAt(b: Block, i: number, end: number): void {
  let j = i;
  for (; j + 1 < end && b.dom[j + 1] !== EMPTY; j++) copyWay(b, j + 1, j);
  b.dom[j] = EMPTY;
}

function entryAt(b: Block, i: number): IotlbEntry {
  const p = b.perm[i] as number;
  return {
    domainId: b.dom[i] as number,
    iovaPfn: b.pfn[i] as number,
    leafIovaBasePfn: b.leafIova[i] as number,
    leafSizeLg2: b.sizeLg2[i] as number,
    leafSpaBasePfn: b.leafSpa[i] as number,
    read: (p & PERM_READ) !== 0,
    write: (p & PERM_WRITE) !== 0,
    levelsRead: b.levels[i] as number,
  };
}
