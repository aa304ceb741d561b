/**
 * The TMPM convenience methods (protocol/README.md §4.3.7): each
 * builds what a driver would (a command page in a pool page, the PTE page as AMD's
 * driver pre-fills it), submits it through the ring like any entry, and reads the
 * statuses back from memory. Addresses in results are bigint (hex on the wire).
 */
import type { Machine } from './machine.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import { smashPrefillPte } from '../iommu/pte.js';
import { CMD_PAGE_GCTX, decodeCapabilities, decodeGctxWord, decodeVersionReg, encodeCommandPage, SUPPORT_PSMASH, SUPPORT_PUNSMASH, SUPPORT_RELOAD, tmpmStatusName, TMPM_COMMAND, TMPM_STATUS } from '../tmpm/commands.js';
import type { EntryOutcome } from '../tmpm/tmpm-config.js';

export interface PsmashIoParams {
  srcPgSpa: bigint;
  smashHpteSpa: bigint;
  srcHpmdSpa: bigint;
  gctxSpa: bigint;
}

/**
 * Refuses (EMU_LIMIT, nothing changes) a command whose budget check says no
 * (tmpm/stall-budget.ts: a smash whose stall could move the clock past MAX_CLOCK_NS
 * or catch more than MAX_REQUESTS_PER_STALL requests of the running streams,
 * protocol/README.md §1.3), before the convenience method writes anything. The engine
 * then does not ask again for the entry (TmpmEngine.submit's budgetChecked); a
 * driver ringing the engine by hand gets its RESOURCE_NOT_AVAILABLE instead.
 * `what` names the call in the message.
 */
function checkBudget(m: Machine, command: number, what: string): void {
  const why = m.tmpm.budgetRefusal(command, what);
  if (why !== null) throw new EmuError(ERROR_CODES.LIMIT, why.message, why.detail);
}

/** tmpm.submit: one entry through the ring, its budget asked first (a refusal throws at once). */
export function tmpmSubmit(m: Machine, command: number, listSpa: bigint, pages = 0) {
  checkBudget(m, command, 'tmpm.submit');
  return submitChecked(m, command, listSpa, pages);
}

async function submitChecked(m: Machine, command: number, listSpa: bigint, pages: number) {
  if (listSpa < 0n || listSpa >= 1n << 64n) throw invalidArgument('listSpa must be a 64-bit address', { path: ['listSpa'] });
  const o = await m.tmpm.submitRaw(command, listSpa, pages, true);
  return { status: o.status, statusName: o.statusName, index: o.index, commandName: o.commandName, startNs: o.startNs, endNs: o.endNs, ...(o.detail !== undefined ? { detail: o.detail } : {}) };
}

/**
 * A command page in a fresh pool page; freed however the command ends. Its contents
 * stay as the engine left them (the gctx word with the statuses), as a driver's
 * freed page would: the ring entry's list_paddr leads to it (the pool zeroes the
 * page when it hands it out again).
 */
async function withCommandPage<T>(m: Machine, qwords: bigint[], run: (listSpa: number) => Promise<T>): Promise<T> {
  const listSpa = allocCommandPage(m, qwords);
  try {
    return await run(listSpa);
  } finally {
    freeCommandPage(m, listSpa);
  }
}

function allocCommandPage(m: Machine, qwords: bigint[]): number {
  const listSpa = m.pool.alloc(1);
  m.memory.writeWords(listSpa, qwords);
  return listSpa;
}

function freeCommandPage(m: Machine, listSpa: number): void {
  // It may already be gone if the machine was replaced meanwhile.
  if (m.pool.isAllocated(listSpa)) m.pool.release(listSpa, 1, false);
}

function smashResult(m: Machine, listSpa: number, o: EntryOutcome) {
  const gctxWord = m.memory.word(listSpa + CMD_PAGE_GCTX);
  const gctx = decodeGctxWord(gctxWord);
  return {
    status: o.status,
    statusName: o.statusName,
    subStatus: gctx.subStatus,
    pteError: gctx.pteError,
    pteSubError: gctx.pteSubError,
    ...(o.detail !== undefined ? { detail: o.detail } : {}),
    index: o.index,
    stallNs: o.stallNs,
    dmaHeld: o.dmaHeld,
    startNs: o.startNs,
    endNs: o.endNs,
    gctxWord,
  };
}

/**
 * tmpm.psmashIo's result. Built as one literal when there is no detail (every
 * successful smash): the spread of smashResult and the added field cost a copy per call.
 */
function psmashResult(m: Machine, listSpa: number, o: EntryOutcome) {
  if (o.detail !== undefined) return { ...smashResult(m, listSpa, o), rmpSmashed: o.rmpChanged };
  const gctxWord = m.memory.word(listSpa + CMD_PAGE_GCTX);
  const gctx = decodeGctxWord(gctxWord);
  return {
    status: o.status,
    statusName: o.statusName,
    subStatus: gctx.subStatus,
    pteError: gctx.pteError,
    pteSubError: gctx.pteSubError,
    index: o.index,
    stallNs: o.stallNs,
    dmaHeld: o.dmaHeld,
    startNs: o.startNs,
    endNs: o.endNs,
    gctxWord,
    rmpSmashed: o.rmpChanged,
  };
}

/** tmpm.punsmashIo's result (one literal on success, as psmashResult). */
function punsmashResult(m: Machine, listSpa: number, o: EntryOutcome) {
  const hpte = m.memory.word(listSpa + 8);
  if (o.detail !== undefined || o.status !== TMPM_STATUS.SUCCESS) {
    return { ...smashResult(m, listSpa, o), rmpMerged: o.rmpChanged, ...(o.status === TMPM_STATUS.SUCCESS ? { hpteSpa: hpte } : {}) };
  }
  const gctxWord = m.memory.word(listSpa + CMD_PAGE_GCTX);
  const gctx = decodeGctxWord(gctxWord);
  return {
    status: o.status,
    statusName: o.statusName,
    subStatus: gctx.subStatus,
    pteError: gctx.pteError,
    pteSubError: gctx.pteSubError,
    index: o.index,
    stallNs: o.stallNs,
    dmaHeld: o.dmaHeld,
    startNs: o.startNs,
    endNs: o.endNs,
    gctxWord,
    rmpMerged: o.rmpChanged,
    hpteSpa: hpte,
  };
}

/**
 * tmpm.psmashIo: PSMASH_IO with the four command-page fields as given. The command
 * page is handled inline, not through withCommandPage: every smash of a stall
 * experiment comes through here, and a closure per call costs. A plain value when
 * the engine answers without waiting (TmpmEngine.submit: virtual mode, one chunk of
 * clock work), else a promise.
 */
export function tmpmPsmashIo(m: Machine, p: PsmashIoParams) {
  checkBudget(m, TMPM_COMMAND.PSMASH_IO, 'tmpm.psmashIo');
  const listSpa = allocCommandPage(m, encodeCommandPage({ srcPgPaddr: p.srcPgSpa, smashHptePaddr: p.smashHpteSpa, srcHpmdPaddr: p.srcHpmdSpa, gctx: p.gctxSpa }));
  return withPage(m, listSpa, submitOn(m, listSpa, TMPM_COMMAND.PSMASH_IO), psmashResult);
}

/** tmpm.punsmashIo: PUNSMASH_IO (smash_hpte_paddr zero on input; the removed table's SPA comes back). Plain value or promise, as tmpmPsmashIo. */
export function tmpmPunsmashIo(m: Machine, p: Omit<PsmashIoParams, 'smashHpteSpa'>) {
  checkBudget(m, m.tmpm.config.punsmashCommand, 'tmpm.punsmashIo');
  const listSpa = allocCommandPage(m, encodeCommandPage({ srcPgPaddr: p.srcPgSpa, smashHptePaddr: 0n, srcHpmdPaddr: p.srcHpmdSpa, gctx: p.gctxSpa }));
  return withPage(m, listSpa, submitOn(m, listSpa, m.tmpm.config.punsmashCommand), punsmashResult);
}

/** Submits the command whose page is at `listSpa` (its budget asked already); a refusal frees the page and throws. */
function submitOn(m: Machine, listSpa: number, command: number): EntryOutcome | Promise<EntryOutcome> {
  try {
    return m.tmpm.submit(command, BigInt(listSpa), 0, true);
  } catch (err) {
    freeCommandPage(m, listSpa);
    throw err;
  }
}

/**
 * The result of the command whose page is at `listSpa` from the engine's answer
 * (submitOn), the page freed however it ends: a plain value when the answer is,
 * else a promise.
 */
function withPage<R>(m: Machine, listSpa: number, submit: EntryOutcome | Promise<EntryOutcome>, result: (m: Machine, listSpa: number, o: EntryOutcome) => R): R | Promise<R> {
  if (!(submit instanceof Promise)) {
    try {
      return result(m, listSpa, submit);
    } finally {
      freeCommandPage(m, listSpa);
    }
  }
  return submit.then(
    (o) => {
      try {
        return result(m, listSpa, o);
      } finally {
        freeCommandPage(m, listSpa);
      }
    },
    (err: unknown) => {
      freeCommandPage(m, listSpa);
      throw err;
    },
  );
}

/** tmpm.getCapabilities: GET_CAPABILITIES, decoded. */
export function tmpmGetCapabilities(m: Machine) {
  return withCommandPage(m, [], async (listSpa) => {
    const o = await m.tmpm.submitRaw(TMPM_COMMAND.GET_CAPABILITIES, BigInt(listSpa), 0);
    const c = decodeCapabilities(m.memory.word(listSpa), m.memory.word(listSpa + 8));
    const fw = decodeVersionReg(c.fwReg);
    const spec = decodeVersionReg(c.specReg);
    return {
      status: o.status,
      statusName: tmpmStatusName(o.status),
      capReg: c.capReg,
      fwReg: c.fwReg,
      specReg: c.specReg,
      supportReg: c.supportReg,
      fwVersion: `${fw.major}.${fw.minor}`,
      specVersion: `${spec.major}.${spec.minor}`,
      reload: (c.supportReg & SUPPORT_RELOAD) !== 0,
      psmash: (c.supportReg & SUPPORT_PSMASH) !== 0,
      punsmash: (c.supportReg & SUPPORT_PUNSMASH) !== 0,
    };
  });
}

/**
 * tmpm.preparePsmash: what KVM and AMD's driver do before PSMASH_IO for the 2 MB
 * leaf mapping `iova` in `domainId`: find the entry, fill a pool page with the 512
 * PTEs (low 12 bits 0x001, address old + i x 4 KB, bits 63:52 copied), and name the
 * guest context of the guest the domain's devices are bound to (else the first).
 */
export function tmpmPreparePsmash(m: Machine, domainId: number, iova: bigint) {
  const domain = m.iommu.domains().get(domainId);
  if (domain === undefined) throw new EmuError(ERROR_CODES.NOT_FOUND, `no valid DTE (V=1, TV=1) carries domain ${domainId}`, { domainId });
  if (iova % 0x20_0000n !== 0n) throw invalidArgument('iova must be 2 MB aligned', { path: ['iova'] });
  const w = m.iommu.walk(domain.devices[0] as number, iova, false);
  const step = w.steps.find((s) => s.level === 2);
  if (step === undefined || !w.ok || w.leafLevel !== 2 || w.sizeLg2 !== 21) {
    throw invalidArgument(`iova ${toHex(iova)} of domain ${domainId} is not mapped by a present 2 MB leaf (NextLevel 0)`, { path: ['iova'] });
  }
  const guests = m.guests.list().filter((g) => g.gctxSpa >= 0);
  const bound = new Set(domain.devices.map((d) => m.firmware.boundAsid(d)).filter((a) => a >= 0));
  const guest = guests.find((g) => bound.has(g.asid)) ?? guests[0];
  if (guest === undefined) throw new EmuError(ERROR_CODES.NOT_FOUND, 'the platform has no guest, so no guest context page for PSMASH_IO');
  const old = step.value;
  const hpteSpa = m.pool.alloc(1);
  const ptes: bigint[] = [];
  for (let i = 0; i < 512; i++) ptes.push(smashPrefillPte(old, i));
  m.memory.writeWords(hpteSpa, ptes);
  return {
    srcPgSpa: old & 0x000f_ffff_ffe0_0000n,
    smashHpteSpa: BigInt(hpteSpa),
    srcHpmdSpa: BigInt(step.entrySpa),
    gctxSpa: BigInt(guest.gctxSpa),
    entry: old,
    asid: guest.asid,
  };
}
