/**
 * PSMASH_IO and PUNSMASH_IO as the TMPM engine runs them (protocol/README.md
 * §4.3.5-4.3.6; docs/hardware.md §2.4): the ordered checks, each giving its
 * TMPM status and a `detail`, then the effect, atomic with respect to DMA: the
 * stall begins, the level-2 entry is swapped, the RMP entry split (or merged) and
 * the affected domains' cached translations dropped. The engine (tmpm-engine.ts)
 * writes the status back when the stall ends.
 *
 * Every address the command page carries has the C-bit stripped before use; the
 * table pointer written into the entry keeps the address bits the driver gave.
 */
import { PAGE_BYTES } from '../memory/host-memory.js';
import { newRmpScratch, type RmpEntryScratch } from '../rmp/rmp-entry.js';
import { newTranslation } from '../iommu/iommu.js';
import type { TableReach } from '../iommu/table-pages.js';
import {
  encodeTablePointer,
  mergedLeafFrom,
  NL_DEFAULT_LEAF,
  pteAddressField,
  pteHighBits,
  pteNextLevel,
  ptePresent,
  PTE_ADDR_MASK,
  addrMaskHi,
  addrMaskLo,
  pteAddressMasked,
  leafRunLength,
  pteHighHi,
  pteNextLevelLo,
  ptePresentLo,
} from '../iommu/pte.js';
import type { StallHandle } from '../dma/stall-gate.js';
import { toHex } from '../util/hex.js';
import { CMD_PAGE_GCTX, CMD_PAGE_SMASH_HPTE, CMD_PAGE_SRC_HPMD, CMD_PAGE_SRC_PG, decodeGctxWord, gctxReservedBits, PTE_ERROR, TMPM_STATUS, type PteError } from './commands.js';
import type { StallModel } from './stall-model.js';
import { sampleStallNs } from './stall-model.js';
import type { BudgetCheck } from './stall-budget.js';
import type { PdeAccess, TmpmDeps } from './tmpm-config.js';

export const REGION_BYTES = 2 * 1024 * 1024;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
const PTES_PER_TABLE = 512;

/** The engine's parts it uses (TmpmDeps), and three things of the engine's own. */
export interface PsmashIoDeps extends Pick<TmpmDeps, 'memory' | 'rmp' | 'iommu' | 'dma' | 'guests' | 'clock' | 'rng' | 'cBit' | 'snpInitialized'> {
  stallModel(): StallModel;
  /** The engine's own requester ID (pdeAccess iommu reads the entry through its DTE). */
  engineDeviceId(): number;
  pdeAccess(): PdeAccess;
}

/** What a PSMASH_IO / PUNSMASH_IO did: its status and, on success, the stall it began. */
export interface SmashOutcome {
  status: number;
  subStatus: number;
  pteError: number;
  pteSubError: number;
  detail?: Record<string, unknown>;
  /** Stall length, ns (0 when a check failed). */
  stallNs: number;
  stalls: StallHandle[];
  /** PSMASH_IO: the RMP entry was split; PUNSMASH_IO: merged. */
  rmpChanged: boolean;
  /** PUNSMASH_IO: the table the entry pointed at (raw address bits), for smash_hpte_paddr. */
  hpteSpa?: number;
  /** The domains the entry serves and the IOVA it maps in each. */
  reaches: Array<{ domainId: number; iova: bigint }>;
  srcPgSpa: number;
}

/** A refusal's detail for RMP entry `index` of the region (check 9), as `e` holds it. */
function rmpDetail(index: number, e: RmpEntryScratch, guestAsid: number) {
  return {
    index,
    entry: { assigned: e.assigned, pageSize: e.pageSizeLg2 === 21 ? '2M' : '4K', asid: e.asid, gpa: BigInt(e.gpaPfn * PAGE_BYTES), immutable: e.immutable },
    guestAsid,
  };
}

function fail(status: number, detail: Record<string, unknown>, pteError: PteError = PTE_ERROR.NONE, srcPgSpa = 0): SmashOutcome {
  return { status, subStatus: 0, pteError, pteSubError: 0, detail, stallNs: 0, stalls: [], rmpChanged: false, reaches: [], srcPgSpa };
}

/** Checks 1-6 of both commands establish these. */
interface Located {
  srcPg: number;
  hpte: number;
  hpmd: number;
  /** src_hpmd_paddr as the command page holds it (C-bit included): the engine's DMA IOVA for the entry. */
  hpmdIova: bigint;
  entry: bigint;
  asid: number;
  reaches: Array<{ domainId: number; iova: bigint }>;
}

/** What the stall-begin report needs, handed out the moment DMA stops (before the entry changes). */
export interface StallBegun {
  reaches: Array<{ domainId: number; iova: bigint }>;
  srcPgSpa: number;
  startNs: number;
  endNs: number;
}

export class PsmashIo {
  /** Called when a stall begins, before the entry and the RMP change (topic stall). */
  onStallBegin: ((s: StallBegun) => void) | undefined;
  private readonly rmpScratch = newRmpScratch();
  private readonly tr = newTranslation();

  constructor(private readonly d: PsmashIoDeps) {}

  /** What it was built from (also what the budget check reads: clock, streams, stall model). */
  get deps(): Readonly<PsmashIoDeps> {
    return this.d;
  }

  private strip(value: bigint): number {
    // Every address a command page carries is a safe integer in practice: strip it as a number (no bigint made).
    const n = Number(value);
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
      const cBit = this.d.cBit;
      return cBit === null || n < 2 ** cBit || Math.floor(n / 2 ** cBit) % 2 === 0 ? n : n - 2 ** cBit;
    }
    const v = BigInt.asUintN(64, value);
    const cBit = this.d.cBit;
    const stripped = cBit === null ? v : v & ~(1n << BigInt(cBit));
    return stripped > MAX_SAFE_BIG ? Number.MAX_SAFE_INTEGER : Number(stripped);
  }

  /**
   * PSMASH_IO with its command page at `listSpa` (already checked 4 KB aligned and
   * inside memory). `budget` is the command's budget check, asked after every other
   * check (null: the convenience method asked it for this entry already).
   */
  psmash(listSpa: number, budget: BudgetCheck | null): SmashOutcome {
    const loc = this.locate(listSpa, true);
    if ('status' in loc) return loc;
    const { srcPg, hpte, entry } = loc;
    // Check 10: the 512 new PTEs, as the driver pre-fills them (smashPrefillPte);
    // bits 11:1 other than NextLevel are not compared.
    const bad = this.firstBadPte(hpte, pteAddressField(entry), entry);
    if (bad !== null) return fail(TMPM_STATUS.INVALID_HPTE_PADDR, bad.detail, bad.pteError, srcPg);
    const access = this.checkWritable(loc.hpmd, loc.hpmdIova);
    if (access !== null) return access;
    const busy = this.tooMuchWork(budget, 'PSMASH_IO', srcPg);
    if (busy !== null) return busy;

    // Effect, atomic with respect to DMA.
    const region = this.d.rmp.readEntryInto(srcPg / PAGE_BYTES, this.rmpScratch);
    const rmpChanged = region.assigned && region.pageSizeLg2 === 21;
    const begun = this.beginStall(loc.reaches, srcPg);
    this.d.memory.setWord(loc.hpmd, encodeTablePointer(this.tableAddress(listSpa), 1));
    if (rmpChanged) this.d.rmp.psmash(srcPg);
    this.invalidate(loc.reaches);
    return { status: TMPM_STATUS.SUCCESS, subStatus: 0, pteError: 0, pteSubError: 0, stallNs: begun.stallNs, stalls: begun.stalls, rmpChanged, reaches: loc.reaches, srcPgSpa: srcPg };
  }

  /** PUNSMASH_IO: checks 1-4, 6 and 9, then the table and the RMP merge; `budget` as for psmash. */
  punsmash(listSpa: number, budget: BudgetCheck | null): SmashOutcome {
    const loc = this.locate(listSpa, false);
    if ('status' in loc) return loc;
    const { srcPg, entry } = loc;
    if (!ptePresent(entry) || pteNextLevel(entry) !== 1) {
      return fail(
        TMPM_STATUS.INVALID_PAGE_SIZE,
        { reason: ptePresent(entry) ? `the entry is not a table pointer to level 1 (NextLevel ${pteNextLevel(entry)})` : 'the entry is not present', entry },
        PTE_ERROR.NONE,
        srcPg,
      );
    }
    const tableRaw = pteAddressField(entry);
    const table = this.strip(BigInt(tableRaw));
    if (!this.d.memory.contains(table, PAGE_BYTES)) return fail(TMPM_STATUS.INVALID_HPTE_PADDR, { reason: 'the table the entry points at is outside memory', tableSpa: BigInt(table) }, PTE_ERROR.NONE, srcPg);
    const pte0 = this.d.memory.word(table);
    // The leaves must map src_pg_paddr contiguously: PTE i's address is PTE 0's + i x 4 KB,
    // and PTE 0's (C-bit stripped) is src_pg_paddr.
    const bad =
      ptePresent(pte0) && pteNextLevel(pte0) === NL_DEFAULT_LEAF && this.strip(BigInt(pteAddressField(pte0))) !== srcPg
        ? { pteError: PTE_ERROR.ADDRESS, detail: { reason: `PTE 0 does not map src_pg_paddr ${toHex(srcPg)}`, index: 0, actual: pte0 } }
        : this.firstBadPte(table, pteAddressField(pte0), pte0);
    if (bad !== null) return fail(TMPM_STATUS.INVALID_HPTE_PADDR, bad.detail, bad.pteError, srcPg);
    const rmpChanged = this.d.rmp.readEntryInto(srcPg / PAGE_BYTES, this.rmpScratch).pageSizeLg2 === 12;
    if (rmpChanged) {
      const can = this.d.rmp.canPageUnsmash(srcPg);
      if (!can.ok) return fail(TMPM_STATUS.INVALID_PAGE_STATE, { reason: `the RMP cannot be merged: ${can.detail}`, ...(can.index !== undefined ? { index: can.index } : {}) }, PTE_ERROR.NONE, srcPg);
    }
    const access = this.checkWritable(loc.hpmd, loc.hpmdIova);
    if (access !== null) return access;
    const busy = this.tooMuchWork(budget, 'PUNSMASH_IO', srcPg);
    if (busy !== null) return busy;

    const begun = this.beginStall(loc.reaches, srcPg);
    this.d.memory.setWord(loc.hpmd, mergedLeafFrom(pte0));
    if (rmpChanged) this.d.rmp.pageUnsmash(srcPg);
    this.invalidate(loc.reaches);
    return { status: TMPM_STATUS.SUCCESS, subStatus: 0, pteError: 0, pteSubError: 0, stallNs: begun.stallNs, stalls: begun.stalls, rmpChanged, hpteSpa: tableRaw, reaches: loc.reaches, srcPgSpa: srcPg };
  }

  /** Checks 1-9 (PSMASH_IO) or 1-4, 6 and 9 (PUNSMASH_IO), in the order of protocol/README.md §4.3.5. */
  private locate(listSpa: number, smash: boolean): Located | SmashOutcome {
    const m = this.d.memory;
    // 1. SNP initialised.
    if (!this.d.snpInitialized()) return fail(TMPM_STATUS.INVALID_PLATFORM_STATE, { reason: 'SNP is not initialised (fw.init)' });
    const srcPgRaw = m.word(listSpa + CMD_PAGE_SRC_PG);
    const hpteRaw = m.word(listSpa + CMD_PAGE_SMASH_HPTE);
    const hpmdRaw = m.word(listSpa + CMD_PAGE_SRC_HPMD);
    const gctxWord = m.word(listSpa + CMD_PAGE_GCTX);
    // 2. Outputs and reserved bits of the gctx word zero on input.
    const reserved = gctxReservedBits(gctxWord);
    if (reserved !== 0n) return fail(TMPM_STATUS.RSVD_FIELD_NOT_ZERO, { reason: 'gctx word bits 11:0 and 63:52 must be zero on input', gctxWord, reservedBits: reserved });
    // 3. A guest context page: one of the guests', RMP Assigned 1, Immutable 1, ASID 0.
    const gctxSpa = this.strip(decodeGctxWord(gctxWord).gctxPage);
    const guest = this.d.guests.byContextPage(gctxSpa);
    if (guest === undefined) return fail(TMPM_STATUS.INVALID_GCTX_PG_PADDR, { reason: 'the gctx page is not a guest context page (emu.info lists them)', gctxSpa: BigInt(gctxSpa) });
    const gctxRmp = this.d.rmp.readEntryInto(Math.floor(gctxSpa / PAGE_BYTES), this.rmpScratch);
    if (!gctxRmp.assigned || !gctxRmp.immutable || gctxRmp.asid !== 0) {
      return fail(TMPM_STATUS.INVALID_GCTX_PG_PADDR, {
        reason: 'the guest context page is not RMP Assigned 1, Immutable 1, ASID 0',
        gctxSpa: BigInt(gctxSpa),
        asid: gctxRmp.asid,
        assigned: gctxRmp.assigned,
        immutable: gctxRmp.immutable,
      });
    }
    // 4. The 2 MB source page.
    const srcPg = this.strip(srcPgRaw);
    if (srcPg % REGION_BYTES !== 0 || !m.contains(srcPg, REGION_BYTES)) {
      return fail(TMPM_STATUS.INVALID_SRC_PG_PADDR, { reason: 'src_pg_paddr must be 2 MB aligned and inside memory', srcPgPaddr: srcPgRaw });
    }
    // 5. The new PTE page (PSMASH_IO only).
    const hpte = this.strip(hpteRaw);
    if (smash) {
      if (hpte % PAGE_BYTES !== 0 || !m.contains(hpte, PAGE_BYTES)) {
        return fail(TMPM_STATUS.INVALID_HPTE_PADDR, { reason: 'smash_hpte_paddr must be 4 KB aligned and inside memory', smashHptePaddr: hpteRaw }, PTE_ERROR.NONE, srcPg);
      }
      const level = this.d.iommu.liveTableLevel(hpte / PAGE_BYTES);
      if (level !== undefined) return fail(TMPM_STATUS.INVALID_HPTE_PADDR, { reason: 'smash_hpte_paddr is a live page-table page (reachable from a valid DTE)', smashHptePaddr: hpteRaw, level }, PTE_ERROR.NONE, srcPg);
      const owner = this.d.rmp.readEntryInto(hpte / PAGE_BYTES, this.rmpScratch);
      if (owner.assigned) return fail(TMPM_STATUS.INVALID_HPTE_PADDR, { reason: 'smash_hpte_paddr is not hypervisor-owned in the RMP', smashHptePaddr: hpteRaw, asid: owner.asid }, PTE_ERROR.NONE, srcPg);
      if (hpte >= srcPg && hpte < srcPg + REGION_BYTES) return fail(TMPM_STATUS.INVALID_OVERLAP, { reason: 'smash_hpte_paddr lies inside the 2 MB source page', smashHptePaddr: hpteRaw }, PTE_ERROR.NONE, srcPg);
      if (hpte === listSpa) return fail(TMPM_STATUS.INVALID_OVERLAP, { reason: 'smash_hpte_paddr is the command page', smashHptePaddr: hpteRaw }, PTE_ERROR.NONE, srcPg);
    }
    // 6. The entry: 8-byte aligned, inside memory, in a live level-2 table.
    const hpmd = this.strip(hpmdRaw);
    if (hpmd % 8 !== 0 || !m.contains(hpmd, 8)) return fail(TMPM_STATUS.INVALID_PAGE_PADDR, { reason: 'src_hpmd_paddr must be 8-byte aligned and inside memory', srcHpmdPaddr: hpmdRaw }, PTE_ERROR.NONE, srcPg);
    const tablePfn = Math.floor(hpmd / PAGE_BYTES);
    const found: readonly TableReach[] = this.d.iommu.tableReaches(tablePfn, 2);
    if (found.length === 0) return fail(TMPM_STATUS.INVALID_PAGE_PADDR, { reason: 'src_hpmd_paddr is not an entry of a live level-2 table (reachable from a valid DTE)', srcHpmdPaddr: hpmdRaw }, PTE_ERROR.NONE, srcPg);
    const slot = BigInt((hpmd % PAGE_BYTES) / 8);
    const reaches = found.map((r) => ({ domainId: r.domainId, iova: r.iovaBase + (slot << 21n) }));
    const hpmdIova = BigInt.asUintN(64, hpmdRaw);
    const viaIommu = this.accessEntry(hpmd, hpmdIova, false);
    if (viaIommu !== null) return { ...viaIommu, srcPgSpa: srcPg };
    const entry = m.word(hpmd);
    if (smash) {
      // 7. A present 2 MB leaf.
      if (!ptePresent(entry) || pteNextLevel(entry) !== NL_DEFAULT_LEAF) {
        return fail(TMPM_STATUS.INVALID_PAGE_SIZE, { reason: ptePresent(entry) ? `the entry is not a 2 MB leaf (NextLevel ${pteNextLevel(entry)})` : 'the entry is not present', entry }, PTE_ERROR.NONE, srcPg);
      }
      // 8. It maps src_pg_paddr.
      const mapped = this.strip(BigInt(pteAddressField(entry)));
      if (mapped !== srcPg) return fail(TMPM_STATUS.ADDRESSES_MISMATCH, { reason: 'the entry does not map src_pg_paddr', entry, mapped: BigInt(mapped), srcPgPaddr: srcPgRaw }, PTE_ERROR.NONE, srcPg);
    }
    // 9. The RMP under the 2 MB page.
    const rmpBad = this.checkRmp(srcPg, guest.asid);
    if (rmpBad !== null) return rmpBad;
    return { srcPg, hpte, hpmd, hpmdIova, entry, asid: guest.asid, reaches };
  }

  /**
   * pdeAccess iommu: the engine reads (and later writes) the entry by DMA through
   * its own DTE, at IOVA = src_hpmd_paddr exactly as the command page holds it,
   * C-bit included (AMD's driver maps IOVA = SPA with the C-bit set); it must
   * translate to the entry's SPA (C-bit stripped). A failed translation logs an
   * IO_PAGE_FAULT for the engine's device: MEM_ABORTED.
   */
  private accessEntry(hpmd: number, iova: bigint, write: boolean): SmashOutcome | null {
    if (this.d.pdeAccess() !== 'iommu') return null;
    const tr = this.tr;
    const deviceId = this.d.engineDeviceId();
    // Check 6 passed: the IOVA is the SPA, or the SPA with the C-bit (below 2^52 either way).
    this.d.iommu.translatePage(deviceId, Number(iova >> 12n), write, tr);
    if (tr.ok && tr.spaPfn * PAGE_BYTES + (hpmd % PAGE_BYTES) === hpmd) return null;
    if (!tr.ok) this.d.iommu.logIoPageFault(deviceId, Math.max(0, tr.domainId), iova, write, tr.present, tr.permission, this.d.clock.nowNs);
    return fail(TMPM_STATUS.MEM_ABORTED, {
      reason: tr.ok
        ? `the engine's domain maps the entry's page to ${toHex(tr.spaPfn * PAGE_BYTES)}, not to itself`
        : `the engine (device ${toHex(deviceId)}) could not ${write ? 'write' : 'read'} the entry through its IOMMU domain: ${tr.reason ?? 'fault'}`,
      srcHpmdPaddr: iova,
      deviceId,
    });
  }

  /**
   * After every check, before the effect: a stall the emulator could not afford
   * (protocol/README.md §1.3: it would pass the end of the clock or hold too many requests) is the
   * engine's RESOURCE_NOT_AVAILABLE (0x17), and nothing changes.
   */
  private tooMuchWork(budget: BudgetCheck | null, command: string, srcPg: number): SmashOutcome | null {
    const why = budget === null ? null : budget(this.d, command);
    return why === null ? null : fail(TMPM_STATUS.RESOURCE_NOT_AVAILABLE, { reason: why.message }, PTE_ERROR.NONE, srcPg);
  }

  /** Right before the effect: the engine must also be able to write the entry. */
  private checkWritable(hpmd: number, iova: bigint): SmashOutcome | null {
    return this.accessEntry(hpmd, iova, true);
  }

  /**
   * Check 9: a 2 MB entry assigned to another ASID, or any assigned 4 KB entry of
   * another ASID: INVALID_GUEST; an immutable entry, or assigned 4 KB entries at
   * GPAs that are not consecutive with their index: INVALID_PAGE_STATE. The two scans
   * run over the RMP's storage (RmpTable.firstForeignAssigned, firstBrokenRun); only
   * the entry named in a refusal is decoded.
   */
  private checkRmp(srcPg: number, asid: number): SmashOutcome | null {
    const rmp = this.d.rmp;
    const e = rmp.readEntryInto(srcPg / PAGE_BYTES, this.rmpScratch);
    if (e.pageSizeLg2 === 21) {
      if (e.assigned && e.asid !== asid)
        return fail(TMPM_STATUS.INVALID_GUEST, { reason: `the 2 MB RMP entry belongs to ASID ${e.asid}, not the gctx guest's ASID ${asid}`, ...rmpDetail(0, e, asid) }, PTE_ERROR.NONE, srcPg);
      if (e.immutable) return fail(TMPM_STATUS.INVALID_PAGE_STATE, { reason: 'the 2 MB RMP entry is immutable', ...rmpDetail(0, e, asid) }, PTE_ERROR.NONE, srcPg);
      return null;
    }
    const region = srcPg / REGION_BYTES;
    const foreign = rmp.firstForeignAssigned(region, asid);
    if (foreign >= 0) {
      rmp.readEntryInto(srcPg / PAGE_BYTES + foreign, e);
      return fail(TMPM_STATUS.INVALID_GUEST, { reason: `4 KB RMP entry ${foreign} belongs to ASID ${e.asid}, not the gctx guest's ASID ${asid}`, ...rmpDetail(foreign, e, asid) }, PTE_ERROR.NONE, srcPg);
    }
    const broken = rmp.firstBrokenRun(region);
    if (broken < 0) return null;
    // The GPA base of the run: the first assigned entry's gpa - its index x 4 KB.
    let gpaBase = 0;
    for (let i = 0; i < broken; i++) {
      if (!rmp.readEntryInto(srcPg / PAGE_BYTES + i, e).assigned) continue;
      gpaBase = (e.gpaPfn - i) * PAGE_BYTES;
      break;
    }
    rmp.readEntryInto(srcPg / PAGE_BYTES + broken, e);
    if (e.immutable) return fail(TMPM_STATUS.INVALID_PAGE_STATE, { reason: `4 KB RMP entry ${broken} is immutable`, ...rmpDetail(broken, e, asid) }, PTE_ERROR.NONE, srcPg);
    return fail(
      TMPM_STATUS.INVALID_PAGE_STATE,
      { reason: `4 KB RMP entry ${broken}'s GPA is not consecutive with the other assigned entries`, ...rmpDetail(broken, e, asid), expectedGpa: BigInt(gpaBase + broken * PAGE_BYTES) },
      PTE_ERROR.NONE,
      srcPg,
    );
  }

  /**
   * The first PTE i (0..511) of the table at `tableSpa` that is not a present 4 KB
   * leaf (PR 1, NextLevel 0) at address field `baseAddr` + i x 4 KB with bits 63:52
   * equal to `ref`'s; bits 11:1 other than NextLevel are not compared (PSMASH_IO
   * check 10, protocol/README.md §4.3.5). Reads the page as 32-bit halves: every PSMASH_IO runs this over 512
   * entries, and a bigint per entry allocates (ARCHITECTURE.md, "Value conventions
   * inside the domain"); the detail is built only for the bad one.
   */
  private firstBadPte(tableSpa: number, baseAddr: number, ref: bigint): { pteError: PteError; detail: Record<string, unknown> } | null {
    const view = this.d.memory.pageHalves(tableSpa / PAGE_BYTES);
    const refHigh = pteHighHi(Number(ref >> 32n));
    const maskLo = addrMaskLo(null);
    const maskHi = addrMaskHi(null);
    // The good prefix in integer compares; only the first PTE past it is classified.
    const good = view === undefined ? 0 : leafRunLength(view, baseAddr, refHigh, PTES_PER_TABLE);
    for (let i = good; i < PTES_PER_TABLE; i++) {
      const lo = view === undefined ? 0 : (view[2 * i] as number);
      const hi = view === undefined ? 0 : (view[2 * i + 1] as number);
      let pteError: PteError = PTE_ERROR.NONE;
      if (!ptePresentLo(lo)) pteError = PTE_ERROR.PR_CLEAR;
      else if (pteNextLevelLo(lo) !== NL_DEFAULT_LEAF) pteError = PTE_ERROR.NEXT_LEVEL_NOT_0;
      else if (pteAddressMasked(lo, hi, maskLo, maskHi) !== baseAddr + i * PAGE_BYTES) pteError = PTE_ERROR.ADDRESS;
      else if (pteHighHi(hi) !== refHigh) pteError = PTE_ERROR.HIGH_BITS;
      if (pteError === PTE_ERROR.NONE) continue;
      const expected = pteHighBits(ref) | (BigInt(baseAddr + i * PAGE_BYTES) & PTE_ADDR_MASK) | 1n;
      const rule = ['', 'PR must be 1', 'NextLevel must be 0', `the address must be the old entry's + ${i} x 4 KB`, "bits 63:52 must equal the old entry's"][pteError];
      return { pteError, detail: { reason: `PTE ${i}: ${rule}`, index: i, expected, actual: this.d.memory.word(tableSpa + i * 8), pteAddress: BigInt(tableSpa + i * 8) } };
    }
    return null;
  }

  /** The PTE page's address as the command page gives it (C-bit kept), for the table pointer. */
  private tableAddress(listSpa: number): number {
    return Number(this.d.memory.word(listSpa + CMD_PAGE_SMASH_HPTE) & PTE_ADDR_MASK);
  }

  /**
   * The stall model's stall for every domain the entry serves (scope domain) or the
   * whole IOMMU (scope iommu), all over one window.
   */
  private beginStall(reaches: Array<{ domainId: number; iova: bigint }>, srcPgSpa: number): { stallNs: number; stalls: StallHandle[] } {
    const model = this.d.stallModel();
    const stallNs = sampleStallNs(model, this.d.rng);
    const startNs = this.d.clock.nowNs;
    const endNs = startNs + stallNs;
    const stalls: StallHandle[] = [];
    const dma = this.d.dma;
    if (model.scope === 'iommu') {
      stalls.push(dma.beginStall({ scope: 'iommu', domainId: reaches[0]?.domainId ?? 0, startNs, endNs, policy: model.policy, completionTimeoutNs: model.completionTimeoutNs }));
    } else {
      for (let i = 0; i < reaches.length; i++) {
        const id = (reaches[i] as { domainId: number }).domainId;
        let seen = false;
        for (let j = 0; j < i && !seen; j++) seen = (reaches[j] as { domainId: number }).domainId === id;
        if (!seen) stalls.push(dma.beginStall({ scope: 'domain', domainId: id, startNs, endNs, policy: model.policy, completionTimeoutNs: model.completionTimeoutNs }));
      }
    }
    this.onStallBegin?.({ reaches, srcPgSpa, startNs, endNs });
    return { stallNs, stalls };
  }

  private invalidate(reaches: Array<{ domainId: number; iova: bigint }>): void {
    for (const r of reaches) this.d.iommu.iotlb.invalidateRange(r.domainId, r.iova, 21);
  }
}
