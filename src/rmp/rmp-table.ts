/**
 * The RMP of one platform (protocol/README.md §5; hardware.md §1.3-1.6,
 * §2.2): one logical entry per 4 KB page, where the entry at a 2 MB-aligned PFN with
 * PageSize = 2M is authoritative for its 512 pages. Untouched memory is unassigned 4 KB.
 *
 * Storage (rmp-storage.ts) is compact so that a 1 TiB guest (524,288 regions) costs
 * a few MiB: one lazily created chunk per GiB of SPA holds, per 2 MB region, a flag
 * byte, the ASID and the GPA page number in typed arrays. A region whose 4 KB entries
 * are not all unassigned has a 512-entry detail record (typed arrays too).
 *
 * Three rooms, each built on the one before: the entries themselves (rmp-entries.ts,
 * the table's state and its invariants), the region scans (rmp-scans.ts), and here
 * the instructions (RMPUPDATE, PSMASH, PVALIDATE, PAGE_UNSMASH) and the state
 * document (its codec is rmp-state.ts).
 */
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import { encodeRmpRaw, isValidRmpAsid, isValidRmpGpa, newRmpScratch, type RmpEntry, type RmpEntryScratch, type RmpPageSize } from './rmp-entry.js';
import { decodeRmpState, encodeRmpState, type RmpState, type RmpStateRecord } from './rmp-state.js';
import { NPF_ERROR, RMP_RC } from './return-codes.js';
import { RmpScans } from './rmp-scans.js';
import {
  type Chunk,
  type Detail,
  F_ASSIGNED,
  F_ASSIGNED_LARGE,
  F_DETAIL,
  F_IMMUTABLE,
  F_INHERITED,
  F_LARGE,
  F_VALIDATED,
  F_VMSA,
  PAGE_BYTES,
  REGION_BYTES,
  REGION_PAGES,
  UNIFORM,
  UNKNOWN,
  isUniform,
} from './rmp-storage.js';

const UNSMASH_OK: UnsmashCheck = Object.freeze({ ok: true });

export interface RmpRead extends RmpEntry {
  /** SPA of the authoritative entry's page: the 2 MB base for a 2 MB entry. */
  entrySpa: number;
  raw: bigint;
}

export interface RmpUpdateInput {
  assigned: boolean;
  pageSize: RmpPageSize;
  /** Ignored unless assigned; default 0. */
  asid?: number;
  /** Ignored unless assigned; default 0. */
  gpa?: number;
  /** Ignored unless assigned; default false. */
  immutable?: boolean;
}

export interface PvalidateInput {
  asid: number;
  gpa: number;
  pageSize: RmpPageSize;
  validate: boolean;
}

export type PvalidateResult = { rc: number; noUpdate?: true } | { npf: { errorCode: bigint } };

export type UnsmashCheck = { ok: true } | { ok: false; reason: 'misaligned' | 'already-2m' | 'mismatch'; index?: number; detail: string };

export interface RmpChange {
  op: 'rmpupdate' | 'psmash' | 'pvalidate' | 'unsmash' | 'reclaim';
  spa: number;
  pageSize: RmpPageSize;
}

export class RmpTable extends RmpScans {
  onChange: ((change: RmpChange) => void) | undefined = undefined;
  private readonly scratch = newRmpScratch();

  read(spa: number): RmpRead {
    this.checkSpa(spa);
    const e = this.readEntryInto(Math.floor(spa / PAGE_BYTES), this.scratch);
    const entry: RmpEntry = {
      assigned: e.assigned,
      pageSize: e.pageSizeLg2 === 21 ? '2M' : '4K',
      immutable: e.immutable,
      validated: e.validated,
      vmsa: e.vmsa,
      asid: e.asid,
      gpa: e.gpaPfn * PAGE_BYTES,
    };
    return { entrySpa: e.entryPfn * PAGE_BYTES, ...entry, raw: encodeRmpRaw(entry) };
  }

  /** RMPUPDATE (hardware.md §1.5 with the decisions of protocol/README.md §5); returns an RMP_RC. */
  rmpUpdate(spa: number, input: RmpUpdateInput): number {
    this.checkSpa(spa);
    const large = this.isLarge(input.pageSize);
    if (spa % (large ? REGION_BYTES : PAGE_BYTES) !== 0) return RMP_RC.FAIL_INPUT;
    let flags = 0;
    let asid = 0;
    let gpaPfn = 0;
    const fixed = !input.assigned && input.immutable === true;
    if (fixed && large) return RMP_RC.FAIL_INPUT;
    if (input.assigned) {
      asid = input.asid ?? 0;
      const gpa = input.gpa ?? 0;
      if (!isValidRmpAsid(asid) || !isValidRmpGpa(gpa) || (large && gpa % REGION_BYTES !== 0)) return RMP_RC.FAIL_INPUT;
      flags = F_ASSIGNED | (input.immutable === true ? F_IMMUTABLE : 0);
      gpaPfn = gpa / PAGE_BYTES;
    }
    const pfn = spa / PAGE_BYTES;
    const region = Math.floor(pfn / REGION_PAGES);
    const rf = this.regionFlags(region);
    if (large) {
      this.check2MInMemory(region, spa);
      // F_DETAIL means some 4 KB entry is assigned; an immutable 4 KB entry is always
      // assigned, so FAIL_OVERLAP precedes it as protocol/README.md §5 orders.
      if ((rf & F_DETAIL) !== 0) return RMP_RC.FAIL_OVERLAP;
      if ((rf & F_IMMUTABLE) !== 0 || this.hasFixedIn(region)) return RMP_RC.FAIL_PERMISSION;
      this.setRegion(region, flags | F_LARGE, asid, gpaPfn);
    } else {
      if ((rf & F_ASSIGNED_LARGE) === F_ASSIGNED_LARGE) return RMP_RC.FAIL_OVERLAP;
      if ((this.pageFlags(pfn) & F_IMMUTABLE) !== 0 || this.fixedPfns.has(pfn)) return RMP_RC.FAIL_PERMISSION;
      // Our choice (the hardware is not public): a 4 KB update inside an UNASSIGNED
      // 2 MB entry needs no PSMASH; the region becomes 512 unassigned 4 KB entries
      // and then this one is written.
      if ((rf & F_LARGE) !== 0) this.setRegion(region, 0, 0, 0);
      this.setPage(pfn, flags, asid, gpaPfn);
      if (fixed) {
        this.fixedPfns.add(pfn);
        this.fixedRegions.add(region);
      }
    }
    this.changed('rmpupdate', spa, input.pageSize);
    return RMP_RC.SUCCESS;
  }

  /** PSMASH (hardware.md §1.4): an assigned 2 MB entry becomes 512 4 KB entries, VMSA = 0. */
  psmash(spa: number): number {
    this.checkSpa(spa);
    if (spa % REGION_BYTES !== 0) return RMP_RC.FAIL_INPUT;
    const region = spa / REGION_BYTES;
    const chunk = this.chunks[region >>> 9];
    const i = region & 511;
    const f = chunk === undefined ? 0 : (chunk.flags[i] as number);
    if (chunk === undefined || (f & F_ASSIGNED_LARGE) !== F_ASSIGNED_LARGE) return RMP_RC.FAIL_BADADDR;
    const d = this.takeDetail();
    d.flags.fill(f & F_INHERITED);
    d.asid.fill(chunk.asid[i] as number);
    const gpaPfn = chunk.gpaPfn[i] as number;
    for (let k = 0; k < REGION_PAGES; k++) d.gpaPfn[k] = gpaPfn + k;
    d.assigned = REGION_PAGES;
    d.uniform = UNIFORM;
    chunk.detail[i] = d;
    chunk.flags[i] = F_DETAIL;
    chunk.asid[i] = 0;
    chunk.gpaPfn[i] = 0;
    this.changed('psmash', spa, '2M');
    return RMP_RC.SUCCESS;
  }

  /**
   * PVALIDATE at `spa`, which the platform translated from the guest's GPA (it also
   * answers "GPA outside the guest" itself). Order per protocol/README.md §5: alignment, then
   * owner (ASID and GPA), then sizes.
   */
  pvalidate(spa: number, req: PvalidateInput): PvalidateResult {
    this.checkSpa(spa);
    const large = this.isLarge(req.pageSize);
    const align = large ? REGION_BYTES : PAGE_BYTES;
    if (spa % align !== 0 || !Number.isSafeInteger(req.gpa) || req.gpa < 0 || req.gpa % align !== 0) return { rc: RMP_RC.FAIL_INPUT };
    const pfn = spa / PAGE_BYTES;
    const region = Math.floor(pfn / REGION_PAGES);
    if (large) this.check2MInMemory(region, spa);
    const e = this.readEntryInto(pfn, this.scratch);
    if (!e.assigned || e.asid !== req.asid || e.pageGpaPfn * PAGE_BYTES !== req.gpa) return { npf: { errorCode: NPF_ERROR.RMP } };
    const entryLarge = e.pageSizeLg2 === 21;
    if (large && !entryLarge) return { rc: RMP_RC.FAIL_SIZEMISMATCH };
    if (!large && entryLarge) return { npf: { errorCode: NPF_ERROR.RMP | NPF_ERROR.SIZEM } };
    if (e.validated === req.validate) return { rc: RMP_RC.SUCCESS, noUpdate: true };
    const chunk = this.chunks[region >>> 9] as Chunk;
    const i = region & 511;
    if (entryLarge) chunk.flags[i] = (chunk.flags[i] as number) ^ F_VALIDATED;
    else {
      const d = chunk.detail[i] as Detail;
      d.flags[pfn & 511] = (d.flags[pfn & 511] as number) ^ F_VALIDATED;
      d.uniform = UNKNOWN;
    }
    this.changed('pvalidate', spa, req.pageSize);
    return { rc: RMP_RC.SUCCESS };
  }

  /**
   * SNP_PAGE_UNSMASH's check (hardware.md §2.2, preconditions UNCONFIRMED; ours):
   * spa 2 MB aligned; the region holds 512 4 KB entries; all have entry 0's
   * Assigned/ASID/Validated/Immutable; when assigned, gpa_i = gpa_0 + i x 4 KB with
   * gpa_0 2 MB aligned; VMSA = 0 everywhere. 512 unassigned entries pass (they merge
   * into an unassigned 2 MB entry). Changes nothing.
   */
  canPageUnsmash(spa: number): UnsmashCheck {
    this.checkSpa(spa);
    if (spa % REGION_BYTES !== 0) return { ok: false, reason: 'misaligned', detail: `spa ${toHex(spa)} is not 2 MB aligned` };
    const region = spa / REGION_BYTES;
    this.check2MInMemory(region, spa);
    const f = this.regionFlags(region);
    if ((f & F_LARGE) !== 0) return { ok: false, reason: 'already-2m', detail: `the RMP entry at ${toHex(spa)} is already a 2 MB entry` };
    if (this.hasFixedIn(region)) {
      let k = region * REGION_PAGES;
      while (!this.fixedPfns.has(k)) k++;
      return { ok: false, reason: 'mismatch', index: k % REGION_PAGES, detail: `entry ${k % REGION_PAGES}: Hypervisor-Fixed (immutable)` };
    }
    const d = this.chunks[region >>> 9]?.detail[region & 511];
    if (d === undefined) return UNSMASH_OK;
    // What PSMASH left: only entry 0's GPA alignment is left to check.
    if (isUniform(d) && (d.gpaPfn[0] as number) % REGION_PAGES === 0) return UNSMASH_OK;
    const f0 = d.flags[0] as number;
    const asid0 = d.asid[0] as number;
    const gpa0 = d.gpaPfn[0] as number;
    const assigned = (f0 & F_ASSIGNED) !== 0;
    const mismatch = (index: number, detail: string): UnsmashCheck => ({ ok: false, reason: 'mismatch', index, detail: `entry ${index}: ${detail}` });
    if (assigned && gpa0 % REGION_PAGES !== 0) return mismatch(0, `gpa ${toHex(gpa0 * PAGE_BYTES)} is not 2 MB aligned`);
    for (let k = 0; k < REGION_PAGES; k++) {
      const fk = d.flags[k] as number;
      if ((fk & F_VMSA) !== 0) return mismatch(k, 'VMSA is set');
      if ((fk & F_INHERITED) !== (f0 & F_INHERITED)) return mismatch(k, 'assigned/immutable/validated differ from entry 0');
      if (d.asid[k] !== asid0) return mismatch(k, `asid ${d.asid[k]} differs from entry 0's ${asid0}`);
      if (assigned && d.gpaPfn[k] !== gpa0 + k) {
        return mismatch(k, `gpa ${toHex((d.gpaPfn[k] as number) * PAGE_BYTES)} is not ${toHex((gpa0 + k) * PAGE_BYTES)}`);
      }
    }
    return UNSMASH_OK;
  }

  /** SNP_PAGE_UNSMASH: the inverse of PSMASH when canPageUnsmash passes; else changes nothing. */
  pageUnsmash(spa: number): UnsmashCheck {
    const check = this.canPageUnsmash(spa);
    if (!check.ok) return check;
    const region = spa / REGION_BYTES;
    const d = this.chunks[region >>> 9]?.detail[region & 511];
    if (d === undefined) this.setRegion(region, F_LARGE, 0, 0);
    else this.setRegion(region, F_LARGE | ((d.flags[0] as number) & F_INHERITED), d.asid[0] as number, d.gpaPfn[0] as number);
    this.changed('unsmash', spa, '2M');
    return check;
  }

  /**
   * SNP_PAGE_RECLAIM's effect (firmware only, docs/sev-firmware.md §1.3): Immutable
   * clears on the entry of `pageSize` at `spa` (a Hypervisor-Fixed page becomes an
   * ordinary hypervisor page; a firmware page stays Assigned to ASID 0). The caller
   * checked the entry is immutable and of that size.
   */
  clearImmutable(spa: number, pageSize: RmpPageSize): void {
    this.checkSpa(spa);
    const pfn = Math.floor(spa / PAGE_BYTES);
    const region = Math.floor(pfn / REGION_PAGES);
    if (this.isLarge(pageSize)) {
      const e = this.readEntryInto(pfn, this.scratch);
      this.setRegion(region, (this.regionFlags(region) & ~F_IMMUTABLE) | F_LARGE, e.asid, e.gpaPfn);
    } else if (this.fixedPfns.delete(pfn)) {
      let left = false;
      for (const f of this.fixedPfns) if (Math.floor(f / REGION_PAGES) === region) left = true;
      if (!left) this.fixedRegions.delete(region);
    } else {
      const e = this.readEntryInto(pfn, this.scratch);
      this.setPage(pfn, this.pageFlags(pfn) & ~F_IMMUTABLE, e.asid, e.gpaPfn);
    }
    this.changed('reclaim', spa, pageSize);
  }

  // A PFN outside memory reads as an unassigned 4 KB entry; PFNs must be integers.

  // ---- state: the document codec is rmp-state.ts; these hand it private storage ----

  /** Runs of equal non-default entries (see RmpStateRecord); a 1 TiB guest of 2 MB pages is one record. */
  getState(): RmpState {
    const state = encodeRmpState(this.sizeBytes, (visit) => this.forEachStoredEntry(visit));
    return this.fixedPfns.size === 0 ? state : { ...state, fixed: [...this.fixedPfns].sort((a, b) => a - b) };
  }

  /** Replaces the whole table; on any error throws BAD_DOCUMENT and leaves it unchanged. Not reported to onChange. */
  setState(state: unknown): void {
    const next = new RmpTable(this.sizeBytes);
    const { fixed, ...rest } = (typeof state === 'object' && state !== null ? state : {}) as { fixed?: unknown };
    decodeRmpState(typeof state === 'object' && state !== null ? rest : state, this.sizeBytes, (run) => next.storeRun(run));
    const fixedPfns = new Set<number>();
    if (fixed !== undefined) {
      if (!Array.isArray(fixed) || fixed.length > 1 << 16) throw new EmuError(ERROR_CODES.BAD_DOCUMENT, 'rmp.fixed must be an array of at most 65536 page numbers');
      for (const p of fixed as unknown[]) {
        if (!Number.isSafeInteger(p) || (p as number) < 0 || (p as number) >= this.pageCount) throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `rmp.fixed: page ${JSON.stringify(p)} is outside memory`);
        const pfn = p as number;
        if (next.isAssigned(pfn) || next.authoritativePageSizeLg2(pfn) !== 12) throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `rmp.fixed: page ${pfn} must be an unassigned 4 KB entry`);
        fixedPfns.add(pfn);
      }
    }
    this.chunks = next.chunks;
    this.assignedPages = next.assignedPages;
    this.fixedPfns = fixedPfns;
    this.fixedRegions = new Set([...fixedPfns].map((p) => Math.floor(p / REGION_PAGES)));
  }

  /** An independent copy (for snapshots); onChange is not copied. */
  clone(): RmpTable {
    const copy = new RmpTable(this.sizeBytes);
    copy.assignedPages = this.assignedPages;
    copy.fixedPfns = new Set(this.fixedPfns);
    copy.fixedRegions = new Set(this.fixedRegions);
    copy.chunks = this.chunks.map((c) =>
      c === undefined
        ? undefined
        : {
            flags: c.flags.slice(),
            asid: c.asid.slice(),
            gpaPfn: c.gpaPfn.slice(),
            detail: c.detail.map((d) => d && { flags: d.flags.slice(), asid: d.asid.slice(), gpaPfn: d.gpaPfn.slice(), assigned: d.assigned, uniform: d.uniform }),
            assignedRegions: c.assignedRegions,
          },
    );
    return copy;
  }

  /**
   * RmpStoredEntries over this table: every 2 MB entry and every assigned 4 KB entry,
   * ascending. Reads through readEntryInto so the codec sees entries exactly as the
   * instructions do, with one decoding of the storage flags.
   */
  private forEachStoredEntry(visit: (spa: number, pageSize: RmpPageSize, e: RmpEntryScratch) => void): void {
    const e = newRmpScratch();
    for (const region of this.regions()) {
      const base = region * REGION_PAGES;
      if (this.readEntryInto(base, e).pageSizeLg2 === 21) visit(base * PAGE_BYTES, '2M', e);
      else for (let k = 0; k < REGION_PAGES; k++) if (this.readEntryInto(base + k, e).assigned) visit((base + k) * PAGE_BYTES, '4K', e);
    }
  }

  /** RmpStoreRun: writes a run decodeRmpState has already validated (aligned, inside memory, fields in range). */
  private storeRun(run: RmpStateRecord): void {
    const { spa, pageSize, count, asid, gpa } = run;
    const size = pageSize === '2M' ? REGION_BYTES : PAGE_BYTES;
    const f = (run.assigned ? F_ASSIGNED : 0) | (run.immutable ? F_IMMUTABLE : 0) | (run.validated ? F_VALIDATED : 0) | (run.vmsa ? F_VMSA : 0);
    const stride = run.assigned ? size / PAGE_BYTES : 0;
    for (let k = 0; k < count; k++) {
      const gpaPfn = gpa / PAGE_BYTES + k * stride;
      if (pageSize === '2M') this.setRegion(spa / REGION_BYTES + k, f | F_LARGE, asid, gpaPfn);
      else this.setPage(spa / PAGE_BYTES + k, f, asid, gpaPfn);
    }
  }

  private checkSpa(spa: number): void {
    if (!Number.isSafeInteger(spa) || spa < 0 || spa >= this.sizeBytes) {
      throw new EmuError(ERROR_CODES.OUT_OF_RANGE, `spa ${Number.isSafeInteger(spa) && spa >= 0 ? toHex(spa) : String(spa)} is outside memory (size ${toHex(this.sizeBytes)})`, { spa });
    }
  }

  /** A 2 MB operation on the last region of a memory that is not a 2 MB multiple is misuse. */
  private check2MInMemory(region: number, spa: number): void {
    if ((region + 1) * REGION_BYTES > this.sizeBytes) {
      throw new EmuError(ERROR_CODES.OUT_OF_RANGE, `the 2 MB page at spa ${toHex(spa)} extends past the end of memory (size ${toHex(this.sizeBytes)})`, { spa });
    }
  }

  private isLarge(pageSize: RmpPageSize): boolean {
    if (pageSize !== '4K' && pageSize !== '2M') throw invalidArgument(`pageSize must be "4K" or "2M", got ${String(pageSize)}`);
    return pageSize === '2M';
  }

  private changed(op: RmpChange['op'], spa: number, pageSize: RmpPageSize): void {
    this.onChange?.({ op, spa, pageSize });
  }
}
