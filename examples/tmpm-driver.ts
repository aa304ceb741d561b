/**
 * tmpm-driver: a client-side driver for the emulated AMD TMPM, written from the
 * logic of AMD's Linux driver drivers/dma/tmpm/ (main.c, main.h; hardware.md §2.4
 * summarises it), over JSON-RPC: the registers with tmpm.readReg / tmpm.writeReg,
 * the ring and the command pages with mem.write64 / mem.read64, as a kernel driver
 * reaches them with MMIO and host memory.
 *
 * - init(): ENGINE_READY set, DRIVER_INIT clear, the ring in the first 4 KB of a
 *   2 MB-aligned allocation made Hypervisor-Fixed in the RMP, RBLOW/RBHIGH, CDATA=1,
 *   RBHEAD=0, RBCTL=INIT, STATUS.TOGGLE flip, DRIVER_INIT.
 * - getCapabilities(), psmashIo(ctx, domain, paddr) as KVM calls it in place of
 *   PSMASH, shutdown() (PAUSE, drain, clear INIT), handleInterrupt().
 * - submit(): the driver's rules: CIRC_SPACE(head, tail, 256) 0 is -EAGAIN; the
 *   entry goes to slot head, head+1 to RBHEAD, then the slot's status_reg is polled
 *   1000 x 25 us (-EIO after). The driver keeps its own head.
 *
 * Results are kernel-style: rc 0 or a negative errno (-EAGAIN, -EIO, -EEXIST,
 * -EINVAL, -ENODEV, -EBUSY). In virtual-clock mode nothing moves unless the client
 * advances time, so every 25 us wait is a clock.advance {ns: 25000}.
 *
 *   npx tsx examples/tmpm-driver.ts          (own server in process)
 *   SMASH_EMU_URL=ws://127.0.0.1:8547 npx tsx examples/tmpm-driver.ts
 */
import { pathToFileURL } from 'node:url';
import type { SmashEmuClient } from '../src/client/smash-emu-client.js';
import { DEFAULT_SCENARIO_DOC, runExample, withEmulator } from './lib/emulator.js';
import { heading, hex, printTable, step } from './lib/format.js';
import { invalidateIommuPages, PTE_ADDR_MASK, smashTablePtes } from './lib/iommu-bits.js';

// ---- The device's layouts, as a client duplicates them from the spec (main.h) -----
// The emulator's own definitions are src/tmpm/registers.ts, ring.ts and commands.ts;
// test/vectors/tmpm.json pins both. A driver carries its own copy, as this one does.

export const REG = { RBCTL: 0x00, RBTAIL: 0x04, RBHEAD: 0x08, CDATA: 0x0c, RBLOW: 0x10, RBHIGH: 0x14, THRESH: 0x18, STATUS: 0x1c } as const;
export const RBCTL_PAUSE = 1 << 0;
export const RBCTL_INIT = 1 << 1;
export const STATUS_ENGINE_READY = 1 << 0;
export const STATUS_DRIVER_INIT = 1 << 1;
export const STATUS_RB_ERR = 1 << 25;
export const STATUS_WPTR_ERR = 1 << 26;
export const STATUS_TOGGLE = 2 ** 31; // bit 31: test with >=, never with a signed &
export const RING_ENTRIES = 256; // CDATA = 1: one 4 KB page of 16-byte entries
export const ENTRY_BYTES = 16;
export const CMD = { GET_CAPABILITIES: 0x00, NOOP: 0x01, PSMASH_IO: 0x05 } as const;
export const SUPPORT_PSMASH = 1 << 6;
export const SUPPORT_PUNSMASH = 1 << 7;
export const TMPM_SUCCESS = 0xf0;
/** Command page offsets (four qwords). */
export const PAGE = { SRC_PG: 0, SMASH_HPTE: 8, SRC_HPMD: 16, GCTX: 24 } as const;

export const STATUS_NAMES: Record<number, string> = {
  0x01: 'INVALID_PLATFORM_STATE',
  0x02: 'INVALID_PAGE_PADDR',
  0x03: 'INVALID_NUM_PAGES',
  0x04: 'MEM_POISONED',
  0x05: 'INVALID_PAGE_STATE',
  0x06: 'INVALID_PAGE_SIZE',
  0x07: 'RMP_NOTEXCLUSIVE',
  0x08: 'INVALID_GUEST',
  0x09: 'INVALID_GPA_PADDR',
  0x0a: 'INVALID_HPTE_PADDR',
  0x0b: 'INVALID_COMMAND',
  0x0c: 'INVALID_SRC_PG_PADDR',
  0x0d: 'INVALID_DST_PG_PADDR',
  0x0e: 'INVALID_GCTX_PG_PADDR',
  0x0f: 'INVALID_RMP_PADDR',
  0x10: 'INVALID_NEXT',
  0x11: 'MEM_ABORTED',
  0x12: 'RSVD_FIELD_NOT_ZERO',
  0x13: 'VERSION_ERROR',
  0x14: 'INVALID_TMPM_LIST_ADDR',
  0x15: 'ADDRESSES_MISMATCH',
  0x16: 'PARTIAL_SUCCESS',
  0x17: 'RESOURCE_NOT_AVAILABLE',
  0x18: 'INVALID_OVERLAP',
  0x19: 'HW_MEM_ERR',
  0xf0: 'SUCCESS',
};
export const statusName = (s: number) => STATUS_NAMES[s] ?? `0x${s.toString(16)}`;

/** The errno values the driver returns, negated as the kernel returns them. */
export const ERRNO = { EIO: -5, EAGAIN: -11, EBUSY: -16, EEXIST: -17, ENODEV: -19, EINVAL: -22 } as const;
export const errnoName = (rc: number) => Object.entries(ERRNO).find(([, v]) => v === rc)?.[0] ?? String(rc);

/** The gctx word: status 7:0, sub_status 11:8, gctx page 51:12, pte_suberr 59:56, pte_err 63:60. */
export function decodeGctx(word: bigint) {
  return {
    status: Number(word & 0xffn),
    subStatus: Number((word >> 8n) & 0xfn),
    gctxPage: word & 0x000f_ffff_ffff_f000n,
    pteSubError: Number((word >> 56n) & 0xfn),
    pteError: Number((word >> 60n) & 0xfn),
  };
}

/** Ring entry qword 1: cmd_reg (7:0 command, 27:16 pages) in 31:0, status_reg in 63:32. */
export const cmdReg = (command: number, pages: number) => BigInt(command & 0xff) | (BigInt(pages & 0xfff) << 16n);
export const ringStatus = (q1: bigint) => Number((q1 >> 32n) & 0xffn);

const TWO_MB = 0x20_0000n;
const PAGE_4K = 0x1000n;
const POLL_LOOPS = 1000; // main.c: 1000 x 25 us = 25 ms
const POLL_NS = 25_000;

export interface CommandResult {
  rc: number;
  /** The status the engine wrote in the ring entry (0 when it did not finish in time). */
  status: number;
  statusName: string;
  /** The ring slot the entry went to, and the command page. */
  index: number;
  listSpa: bigint;
  /** Qword 1 of the ring entry as it read last. */
  entryQ1: bigint;
  reason?: string;
}

export interface PsmashResult extends CommandResult {
  gctxWord: bigint;
  gctx: ReturnType<typeof decodeGctx>;
  hpteSpa: bigint;
}

/** The command page fields of PSMASH_IO (addresses without the C-bit: the driver adds it). */
export interface PsmashPage {
  srcPgPaddr: bigint;
  smashHptePaddr: bigint;
  srcHpmdPaddr: bigint;
  /** The gctx word as submitted: the guest context page, outputs zero. */
  gctx: bigint;
}

/** A domain as the driver sees it: its ID and a device behind it (iommu.walk walks by device). */
export interface Domain {
  domainId: number;
  deviceId: number;
}

export interface DriverOptions {
  /** Status polls before -EIO (main.c: 1000). */
  pollLoops?: number;
  /** Where the driver's log lines go (dev_info / dev_err). */
  log?: (line: string) => void;
}

/** The parts of emu.info a driver reads (the ACPI tables and CPUID, on hardware). */
export interface PlatformInfo {
  clockMode: 'virtual' | 'realtime';
  config: { cBit: number | null };
  guests: Array<{ asid: number; gctxSpa: string | null }>;
  tmpm: { deviceId: number; domainId: number; pdeAccess: 'direct' | 'iommu'; initialised: boolean; ringSpa: string | null; ringEntries: number };
}

export async function platformInfo(c: SmashEmuClient): Promise<PlatformInfo> {
  return (await c.call('emu.info')) as unknown as PlatformInfo;
}

export class TmpmDriver {
  private ringSpa = -1n;
  private listPage = -1n;
  private head = 0;
  private capabilities: { supportReg: number; fwReg: number; specReg: number } | null = null;
  readonly lines: string[] = [];
  private readonly pollLoops: number;
  private readonly sink: ((line: string) => void) | undefined;

  private constructor(
    private readonly c: SmashEmuClient,
    private readonly virtual: boolean,
    private readonly cBit: number | null,
    /** tmpm.domainId and tmpm.pdeAccess from emu.info (the ACPI table, on hardware). */
    readonly engineDomainId: number,
    readonly pdeAccess: string,
    opts: DriverOptions,
  ) {
    this.pollLoops = opts.pollLoops ?? POLL_LOOPS;
    this.sink = opts.log;
  }

  /** The probe: what the platform tells a driver before it touches the device. */
  static async probe(c: SmashEmuClient, opts: DriverOptions = {}): Promise<TmpmDriver> {
    const info = await platformInfo(c);
    return new TmpmDriver(c, info.clockMode === 'virtual', info.config.cBit, info.tmpm.domainId, info.tmpm.pdeAccess, opts);
  }

  get ring(): bigint {
    return this.ringSpa;
  }

  get headIndex(): number {
    return this.head;
  }

  // ---- bring-up and shutdown ----------------------------------------------------

  async init(): Promise<number> {
    const status = await this.readReg(REG.STATUS);
    if ((status & STATUS_ENGINE_READY) === 0) return this.fail(ERRNO.ENODEV, 'engine not ready (STATUS.ENGINE_READY clear)');
    if ((status & STATUS_DRIVER_INIT) !== 0) return this.fail(ERRNO.EBUSY, 'engine already initialised (STATUS.DRIVER_INIT set): another driver owns it');
    // The ring: the first 4 KB of a 2 MB-aligned allocation. The pool hands out 4 KB
    // pages, so take 1023 of them: one is 2 MB aligned. The allocation is kept whole.
    const { spa } = await this.c.call('mem.alloc', { pages: 1023 });
    const ring = (BigInt(spa) + TWO_MB - 1n) & ~(TWO_MB - 1n);
    // Hypervisor-Fixed: not assigned, immutable (what SNP requires of the ring).
    const up = await this.c.call('rmp.update', { spa: hex(ring), assigned: false, pageSize: '4K', immutable: true });
    if (up.rc !== 0) return this.fail(ERRNO.EIO, `RMPUPDATE of the ring page ${hex(ring)} returned ${up.rcName}`);
    const base = this.sme(ring);
    await this.writeReg(REG.RBLOW, Number(base & 0xffff_ffffn));
    await this.writeReg(REG.RBHIGH, Number(base >> 32n));
    await this.writeReg(REG.CDATA, 1);
    await this.writeReg(REG.RBHEAD, 0);
    this.ringSpa = ring;
    this.head = 0;
    if (!(await this.writeCtl(RBCTL_INIT))) return this.fail(ERRNO.EIO, 'RBCTL=INIT: STATUS.TOGGLE did not flip within 25 ms');
    const ok = await this.poll(async () => ((await this.readReg(REG.STATUS)) & STATUS_DRIVER_INIT) !== 0);
    if (!ok) {
      const s = await this.readReg(REG.STATUS);
      return this.fail(ERRNO.EIO, `DRIVER_INIT did not set${(s & STATUS_RB_ERR) !== 0 ? ' (STATUS.RB_ERR: the engine refused the ring)' : ''}`);
    }
    this.info(`ring at ${hex(ring)}, ${RING_ENTRIES} entries; engine initialised`);
    return 0;
  }

  async shutdown(): Promise<number> {
    const ctl = await this.readReg(REG.RBCTL);
    if (!(await this.writeCtl(ctl | RBCTL_PAUSE))) return this.fail(ERRNO.EIO, 'RBCTL |= PAUSE: no TOGGLE flip');
    const status = await this.readReg(REG.STATUS);
    if ((status & STATUS_RB_ERR) === 0) {
      // Drain: the entry running when PAUSE landed finishes; the rest stay queued.
      const drained = await this.poll(async () => (await this.readReg(REG.RBTAIL)) === this.head);
      if (!drained) this.info(`shutdown: ring not drained (head ${this.head}, tail ${await this.readReg(REG.RBTAIL)}); pending entries are dropped`);
    }
    if (!(await this.writeCtl((ctl | RBCTL_PAUSE) & ~RBCTL_INIT))) return this.fail(ERRNO.EIO, 'clearing RBCTL.INIT: no TOGGLE flip');
    const off = await this.poll(async () => ((await this.readReg(REG.STATUS)) & STATUS_DRIVER_INIT) === 0);
    if (!off) return this.fail(ERRNO.EIO, 'DRIVER_INIT did not clear');
    this.head = 0;
    this.info('engine shut down');
    return 0;
  }

  /** The interrupt handler: an RB_ERR or WPTR_ERR shuts the engine down. */
  async handleInterrupt(): Promise<{ rc: number; status: number }> {
    const status = await this.readReg(REG.STATUS);
    if ((status & (STATUS_RB_ERR | STATUS_WPTR_ERR)) === 0) return { rc: 0, status };
    this.err(`interrupt: STATUS ${hex(status)}${(status & STATUS_RB_ERR) !== 0 ? ' RB_ERR' : ''}${(status & STATUS_WPTR_ERR) !== 0 ? ' WPTR_ERR' : ''}; shutting the engine down`);
    return { rc: await this.shutdown(), status };
  }

  // ---- commands --------------------------------------------------------------------

  async getCapabilities(): Promise<{ rc: number; supportReg: number; fwVersion: string; specVersion: string; psmash: boolean; punsmash: boolean }> {
    const r = await this.runCommand(CMD.GET_CAPABILITIES, []);
    const none = { supportReg: 0, fwVersion: '-', specVersion: '-', psmash: false, punsmash: false };
    if (r.rc !== 0) return { rc: r.rc, ...none };
    if (r.status !== TMPM_SUCCESS) return { rc: ERRNO.EIO, ...none };
    const [q0, q1] = (await this.read64(r.listSpa, 2)) as [bigint, bigint];
    const fwReg = Number(q0 >> 32n);
    const specReg = Number(q1 & 0xffff_ffffn);
    const supportReg = Number(q1 >> 32n);
    this.capabilities = { fwReg, specReg, supportReg };
    const ver = (reg: number) => `${(reg >>> 24) & 0xff}.${(reg >>> 16) & 0xff}`;
    return { rc: 0, supportReg, fwVersion: ver(fwReg), specVersion: ver(specReg), psmash: (supportReg & SUPPORT_PSMASH) !== 0, punsmash: (supportReg & SUPPORT_PUNSMASH) !== 0 };
  }

  /**
   * psmash_io(snp_context, domain, paddr), as KVM calls it in place of PSMASH: smash
   * the IOMMU entry mapping the 2 MB page `paddr` in `domain`, and the RMP under it.
   */
  async psmashIo(ctx: { gctxSpa: bigint }, domain: Domain, paddr: bigint): Promise<PsmashResult> {
    const refuse = (rc: number, reason: string): PsmashResult => ({ ...this.noCommand(rc, reason), gctxWord: 0n, gctx: decodeGctx(0n), hpteSpa: -1n });
    if (this.capabilities === null && (await this.getCapabilities()).rc !== 0) return refuse(ERRNO.ENODEV, 'GET_CAPABILITIES failed');
    if (((this.capabilities?.supportReg ?? 0) & SUPPORT_PSMASH) === 0) return refuse(ERRNO.ENODEV, 'the engine does not offer PSMASH_IO (support_reg bit 6)');
    if (paddr % TWO_MB !== 0n) return refuse(ERRNO.EINVAL, `paddr ${hex(paddr)} is not 2 MB aligned`);
    const gpa = BigInt((await this.c.call('rmp.read', { spa: hex(paddr) })).gpa);
    const walk = await this.c.call('iommu.walk', { deviceId: domain.deviceId, iova: hex(gpa) });
    if (!walk.ok || walk.sizeLg2 === null) return refuse(ERRNO.EINVAL, `GPA ${hex(gpa)} is not mapped in domain ${domain.domainId} (${walk.fault?.reason ?? 'no leaf'})`);
    if (walk.sizeLg2 < 21) return refuse(ERRNO.EEXIST, `GPA ${hex(gpa)} is already mapped by a 2^${walk.sizeLg2} leaf in domain ${domain.domainId}`);
    const l2 = walk.steps.find((s) => s.level === 2);
    if (walk.sizeLg2 !== 21 || l2 === undefined) return refuse(ERRNO.EINVAL, `GPA ${hex(gpa)} is mapped by a 2^${walk.sizeLg2} leaf, not a 2 MB IOPDE`);
    const entrySpa = BigInt(l2.entrySpa);
    const entry = BigInt(l2.value);
    // The 512 new PTEs, "as the TMPM spec requires": low 12 bits 0x001, PFN old + i, bits 63:52 copied.
    const { spa: hpte } = await this.c.call('mem.alloc', { pages: 1 });
    await this.c.call('mem.write64', { spa: hpte, values: smashTablePtes(entry).map(hex) });
    // The engine reads the entry by DMA at src_hpmd_paddr as the command page holds it
    // (C-bit set with SME): the driver maps that IOVA to the same SPA, C-bit included.
    const pdePage = this.sme(entrySpa & ~(PAGE_4K - 1n));
    const viaIommu = this.pdeAccess === 'iommu';
    if (viaIommu) {
      await this.c.call('iommu.map', { domainId: this.engineDomainId, iova: hex(pdePage), spa: hex(pdePage), length: '0x1000', sizeLg2: 12, read: true, write: true });
    }
    try {
      const r = await this.issuePsmashIo({ srcPgPaddr: paddr, smashHptePaddr: BigInt(hpte), srcHpmdPaddr: entrySpa, gctx: ctx.gctxSpa });
      // On success the PTE page is live: it belongs to the IOMMU driver now. After a
      // failure status it is ours to free; after a timeout the engine may still read it.
      if (r.status !== 0 && r.status !== TMPM_SUCCESS) await this.c.call('mem.free', { spa: hpte, pages: 1 });
      return r;
    } finally {
      if (viaIommu) {
        await this.c.call('iommu.unmap', { domainId: this.engineDomainId, iova: hex(pdePage), length: '0x1000' });
        await this.c.call('iommu.command', { qwords: invalidateIommuPages(this.engineDomainId, pdePage, 12).map(hex) });
      }
    }
  }

  /** PSMASH_IO with the command page as given: build it, submit it, read the gctx word. */
  async issuePsmashIo(page: PsmashPage, opts: { pages?: number; listOffset?: bigint } = {}): Promise<PsmashResult> {
    const words = [this.sme(page.srcPgPaddr), this.sme(page.smashHptePaddr), this.sme(page.srcHpmdPaddr), this.sme(page.gctx)];
    const r = await this.runCommand(CMD.PSMASH_IO, words, opts);
    const gctxWord = (await this.read64(r.listSpa + BigInt(PAGE.GCTX), 1))[0] as bigint;
    const gctx = decodeGctx(gctxWord);
    // main.c logs any non-zero field; status is 0xF0 on success, so this fires then too.
    if (gctx.pteError !== 0 || gctx.pteSubError !== 0 || gctx.subStatus !== 0 || gctx.status !== 0) {
      this.info(`psmash_io: pte_err ${gctx.pteError} pte_suberr ${gctx.pteSubError} sub_status ${gctx.subStatus} status ${hex(gctx.status)} (${statusName(gctx.status)})`);
    }
    const rc = r.rc !== 0 ? r.rc : r.status === TMPM_SUCCESS ? 0 : ERRNO.EIO;
    return { ...r, rc, gctxWord, gctx, hpteSpa: page.smashHptePaddr };
  }

  async noop(): Promise<CommandResult> {
    return this.runCommand(CMD.NOOP, []);
  }

  /**
   * The driver's command page (one, reused under the ring lock, as a kernel driver
   * keeps one coherent buffer): the words written, then submit(). After a timeout
   * the engine may still write that page, so it is left to the engine and the next
   * command takes a fresh one. `listOffset` and `pages` exist to provoke the
   * engine's INVALID_TMPM_LIST_ADDR and INVALID_NUM_PAGES.
   */
  async runCommand(command: number, words: bigint[], opts: { pages?: number; listOffset?: bigint } = {}): Promise<CommandResult> {
    if (this.listPage < 0n) this.listPage = BigInt((await this.c.call('mem.alloc', { pages: 1 })).spa);
    const listSpa = this.listPage;
    await this.c.call('mem.write64', { spa: hex(listSpa), values: [...words, 0n, 0n, 0n, 0n].slice(0, Math.max(4, words.length)).map(hex) });
    const r = await this.submit(command, listSpa + (opts.listOffset ?? 0n), opts.pages ?? 0);
    if (r.rc === ERRNO.EIO) this.listPage = -1n;
    return { ...r, listSpa };
  }

  /** tmpm_submit_cmd: one entry at the driver's head, then wait for its status. */
  async submit(command: number, listPaddr: bigint, pages = 0): Promise<CommandResult> {
    if (this.ringSpa < 0n) return this.noCommand(ERRNO.ENODEV, 'the engine is not initialised by this driver');
    const tail = (await this.readReg(REG.RBTAIL)) & 0xffff;
    if (circSpace(this.head, tail, RING_ENTRIES) === 0) return this.noCommand(ERRNO.EAGAIN, `ring full (head ${this.head}, tail ${tail})`);
    const index = this.head;
    const slot = this.ringSpa + BigInt(index * ENTRY_BYTES);
    await this.c.call('mem.write64', { spa: hex(slot), values: [hex(this.sme(listPaddr)), hex(cmdReg(command, pages))] });
    this.head = (this.head + 1) % RING_ENTRIES;
    await this.writeReg(REG.RBHEAD, this.head);
    let q1 = 0n;
    const done = await this.poll(async () => {
      q1 = (await this.read64(slot + 8n, 1))[0] as bigint;
      return ringStatus(q1) !== 0;
    });
    const status = ringStatus(q1);
    const base = { status, statusName: status === 0 ? '-' : statusName(status), index, listSpa: listPaddr, entryQ1: q1 };
    if (!done) {
      this.err(`command ${hex(command)} at slot ${index}: no status within 25 ms`);
      return { rc: ERRNO.EIO, ...base, reason: 'timeout: status_reg still 0 after 1000 x 25 us' };
    }
    return { rc: 0, ...base };
  }

  // ---- helpers --------------------------------------------------------------------

  /** An RBCTL write completes by inverting STATUS.TOGGLE. */
  private async writeCtl(value: number): Promise<boolean> {
    const before = (await this.readReg(REG.STATUS)) >= STATUS_TOGGLE;
    await this.writeReg(REG.RBCTL, value >>> 0);
    return this.poll(async () => (await this.readReg(REG.STATUS)) >= STATUS_TOGGLE !== before);
  }

  /** Up to pollLoops checks, 25 us apart (a clock.advance in virtual mode). */
  private async poll(check: () => Promise<boolean>): Promise<boolean> {
    for (let i = 0; i < this.pollLoops; i++) {
      if (await check()) return true;
      await this.udelay();
    }
    return check();
  }

  private async udelay(): Promise<void> {
    if (this.virtual) await this.c.call('clock.advance', { ns: POLL_NS });
    else await new Promise((r) => setTimeout(r, POLL_NS / 1e6));
  }

  private async readReg(offset: number): Promise<number> {
    return (await this.c.call('tmpm.readReg', { offset })).value;
  }

  private async writeReg(offset: number, value: number): Promise<void> {
    await this.c.call('tmpm.writeReg', { offset, value });
  }

  private async read64(spa: bigint, count: number): Promise<bigint[]> {
    return (await this.c.call('mem.read64', { spa: hex(spa), count })).values.map((v) => BigInt(v));
  }

  /** Host addresses carry the C-bit (__sme_set); the engine strips it. */
  private sme(spa: bigint): bigint {
    return this.cBit === null || spa === 0n ? spa : spa | (1n << BigInt(this.cBit));
  }

  private noCommand(rc: number, reason: string): CommandResult {
    this.err(reason);
    return { rc, status: 0, statusName: '-', index: -1, listSpa: -1n, entryQ1: 0n, reason };
  }

  private fail(rc: number, reason: string): number {
    this.err(`${reason}: ${errnoName(rc)}`);
    return rc;
  }

  private info(line: string): void {
    this.lines.push(`tmpm: ${line}`);
    this.sink?.(`tmpm: ${line}`);
  }

  private err(line: string): void {
    this.lines.push(`tmpm: error: ${line}`);
    this.sink?.(`tmpm: error: ${line}`);
  }
}

/** Linux's CIRC_SPACE(head, tail, size): free slots, one never used. */
export function circSpace(head: number, tail: number, size: number): number {
  return (tail - (head + 1)) & (size - 1);
}

/** The 2 MB page's address field of an IOMMU leaf (bits 51:21). */
export const leafPage = (entry: bigint) => entry & PTE_ADDR_MASK & ~(TWO_MB - 1n);

// ---- The example: bring the engine up, smash one 2 MB region, shut it down ---------

const DEVICE = 0x0100; // 01:00.0, TEE-IO, domain 1, bound to guest ASID 1
const DOMAIN = 1;
const REGION_SPA = 0x1_0020_0000n; // GPA 0x200000 of guest 1

async function main(): Promise<void> {
  const scenario = { ...DEFAULT_SCENARIO_DOC, name: 'tmpm-driver', tmpm: { initialised: false } };
  await withEmulator(async ({ client, url }) => {
    console.log(`tmpm-driver  (emulator ${url}; the engine left for this driver to bring up)`);
    const drv = await TmpmDriver.probe(client, { log: (l) => console.log(`    ${l}`) });

    heading('Bring-up');
    step(`STATUS ${hex((await client.call('tmpm.readReg', { offset: REG.STATUS })).value)} (ENGINE_READY, DRIVER_INIT clear)`);
    const rc = await drv.init();
    if (rc !== 0) throw new Error(`init: ${errnoName(rc)}`);
    const ringRmp = await client.call('rmp.read', { spa: hex(drv.ring) });
    step(
      `init -> ${rc}; STATUS ${hex((await client.call('tmpm.readReg', { offset: REG.STATUS })).value)}; ring ${hex(drv.ring)} (2 MB aligned ${drv.ring % TWO_MB === 0n}), RMP assigned ${ringRmp.assigned} immutable ${ringRmp.immutable}`,
    );

    heading('GET_CAPABILITIES');
    const caps = await drv.getCapabilities();
    step(`rc ${caps.rc}: fw ${caps.fwVersion}, spec ${caps.specVersion}, support_reg ${hex(caps.supportReg)} (PSMASH ${caps.psmash}, PUNSMASH ${caps.punsmash})`);

    heading(`psmash_io(gctx, domain ${DOMAIN}, ${hex(REGION_SPA)})`);
    const info = await platformInfo(client);
    const gctxSpa = BigInt(info.guests[0]?.gctxSpa ?? '0');
    const before = await client.call('iommu.walk', { deviceId: DEVICE, iova: '0x200000' });
    const r = await drv.psmashIo({ gctxSpa }, { domainId: DOMAIN, deviceId: DEVICE }, REGION_SPA);
    if (r.rc !== 0 || !('gctxWord' in r)) throw new Error(`psmash_io: ${errnoName(r.rc)} ${r.statusName} ${r.reason ?? ''}`);
    const after = await client.call('iommu.walk', { deviceId: DEVICE, iova: '0x203000' });
    const rmp = await client.call('rmp.read', { spa: hex(REGION_SPA + 0x3000n) });
    printTable(
      ['slot', 'ring status', 'gctx word', 'pte_err', 'entry before', 'entry after', 'leaf now', 'RMP now'],
      [[r.index, `${hex(r.status)} ${r.statusName}`, hex(r.gctxWord), r.gctx.pteError, before.steps.at(-1)?.value, after.steps.find((s) => s.level === 2)?.value, `2^${after.sizeLg2}`, rmp.pageSize]],
    );

    if (info.config.cBit !== null) {
      step(`the new entry carries bit ${info.config.cBit} (the C-bit, emu.info config.cBit) in its table address: the driver passes host addresses with it, as the kernel does, and the IOMMU strips it`);
    }

    heading('psmash_io again on the same region');
    const again = await drv.psmashIo({ gctxSpa }, { domainId: DOMAIN, deviceId: DEVICE }, REGION_SPA);
    step(`rc ${again.rc} (${errnoName(again.rc)}): the driver finds a 4 KB leaf and does not submit`);

    heading('Shutdown');
    const down = await drv.shutdown();
    step(`shutdown -> ${down}; STATUS ${hex((await client.call('tmpm.readReg', { offset: REG.STATUS })).value)}`);
    const audit = await client.call('emu.audit');
    console.log(`  emu.audit: ${audit.violations.length === 0 ? 'clean' : JSON.stringify(audit.violations)}`);
  }, scenario);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) runExample(main);
