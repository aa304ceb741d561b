/**
 * tmpm.*: the smash engine, AMD's TMPM (protocol/README.md §4.3;
 * docs/hardware.md §2.4). Registers and the ring are the device itself; the
 * convenience methods go the same path (a ring entry). Outcomes the real engine
 * would report are TMPM statuses in the result (0xF0 = SUCCESS), never JSON-RPC
 * errors; a malformed request is -32602.
 */
import * as z from 'zod';
import { method, stallModelOut } from './method-spec.js';
import { jitterDist, stallPolicy, stallScope } from './scenario-schema.js';
import { domainId, hex64, hexOut, intRange, noParams, nsAtMost, okResult } from './wire.js';
import { STALL_MODEL_LIMITS } from '../tmpm/stall-model.js';
import { TMPM_STATUS } from '../tmpm/commands.js';
import { codeName, codeValue } from './code-tables.js';

const statusList = Object.entries(TMPM_STATUS)
  .map(([k, v]) => `0x${v.toString(16).padStart(2, '0')} ${k}`)
  .join(', ');

export const tmpmStatusFields = {
  status: codeValue('TmpmStatus', `TMPM status: ${statusList}`),
  statusName: codeName('TmpmStatus', 'name of the status, e.g. SUCCESS, INVALID_HPTE_PADDR'),
  detail: z.record(z.string(), z.unknown()).exactOptional().describe('on failure: what was wrong (the failing check, the PTE index, expected and actual values, the address)'),
};

const timing = {
  index: z.int().min(0).describe('the ring index the entry ran at'),
  startNs: z.int().min(0).describe('virtual time the engine started the entry'),
  endNs: z.int().min(0).describe('virtual time it finished (statuses written, tail advanced)'),
};

/**
 * What tmpm.preparePsmash tells besides the four command-page values. tmpm.psmashIo
 * accepts them (checked for shape, then ignored: the engine reads the entry and the
 * RMP itself when the command runs), so that psmashIo(preparePsmash(...)) works as is.
 */
const preparedInfo = {
  entry: hex64('0x6000000100200001').exactOptional().describe('from tmpm.preparePsmash: the 2 MB leaf when it was prepared; informational, ignored (the engine reads the entry itself)'),
  asid: intRange(0, 1023).exactOptional().describe('from tmpm.preparePsmash: the ASID of the gctx guest; informational, ignored'),
};

const smashOut = {
  ...tmpmStatusFields,
  ...timing,
  subStatus: z.int().min(0).max(15).describe('gctx word bits 11:8'),
  pteError: codeValue('TmpmPteError', "gctx word bits 63:60: the first bad PTE's rule (1 PR clear, 2 NextLevel not 0, 3 address, 4 bits 63:52)"),
  pteSubError: z.int().min(0).max(15).describe('gctx word bits 59:56'),
  stallNs: z.int().min(0).describe('how long DMA in scope was stalled, ns (0 when a check failed)'),
  dmaHeld: z.int().min(0).describe('requests that arrived during the stall and waited'),
  gctxWord: hexOut.describe('the gctx word as it reads in memory afterwards'),
};

const addr64 = (example: string, what: string) => hex64(example).describe(what);

const stallModelPatch = z.strictObject({
  baseNs: nsAtMost(STALL_MODEL_LIMITS.baseNs, 'fixed part of a stall').exactOptional(),
  perEntryNs: nsAtMost(STALL_MODEL_LIMITS.perEntryNs, 'per PTE; a smash rewrites 512').exactOptional(),
  jitter: z
    .strictObject({ dist: jitterDist.exactOptional(), spreadNs: nsAtMost(STALL_MODEL_LIMITS.spreadNs, 'jitter spread').exactOptional() })
    .exactOptional()
    .describe('partial: absent keys keep their value'),
  scope: stallScope.exactOptional().describe('domain: stall the domains whose tables reach the entry; iommu: every device'),
  policy: stallPolicy.exactOptional().describe('hold: requests wait; abort: they fail'),
  completionTimeoutNs: nsAtMost(STALL_MODEL_LIMITS.completionTimeoutNs, 'a held request fails as timeout at arrival + this').exactOptional(),
});

const regValue = intRange(0, 0xffff_ffff).describe('a 32-bit register value');
const regOffset = z.int('must be an integer byte offset').describe('byte offset: 0x00 RBCTL, 0x04 RBTAIL, 0x08 RBHEAD, 0x0c CDATA, 0x10 RBLOW, 0x14 RBHIGH, 0x18 THRESH, 0x1c STATUS');

export const TMPM_METHODS = {
  'tmpm.readReg': method({
    summary: 'Read a TMPM mailbox register',
    description: 'RBHEAD reads 0 (write-only); STATUS is computed (bit 0 ENGINE_READY always 1, 1 DRIVER_INIT, 25 RB_ERR, 26 WPTR_ERR, 31 TOGGLE). Another offset is -32602.',
    params: z.strictObject({ offset: regOffset }),
    result: z.looseObject({ offset: z.int(), value: z.int().min(0).max(0xffff_ffff) }),
    examples: [{ name: 'STATUS of the default engine: ENGINE_READY | DRIVER_INIT', params: { offset: 0x1c }, result: { offset: 28, value: 3 } }],
  }),

  'tmpm.writeReg': method({
    summary: 'Write a TMPM mailbox register',
    description:
      'RBCTL takes effect ctlNs later (default 2000), then STATUS.TOGGLE flips: INIT 0->1 checks the ring (RB_ERR and an interrupt when bad), INIT 1->0 drops pending entries, PAUSE stops new entries. RBHEAD while DRIVER_INIT is set runs entries up to the new head; a head at or past the ring size sets WPTR_ERR. RBTAIL and STATUS are read-only (-32602).',
    params: z.strictObject({ offset: regOffset, value: regValue }),
    result: okResult,
  }),

  'tmpm.regs': method({
    summary: 'Every TMPM register, raw and decoded, and what the engine is doing',
    description:
      'Each register as {offset, value, ...decoded fields}; `engine` gives the ring (SPA, entries, head, the head last written), pending entries, the running one, pending RBCTL writes, interrupts and commands run.',
    params: noParams,
    result: z.looseObject({
      RBCTL: z.looseObject({ value: z.int(), pause: z.boolean(), init: z.boolean() }),
      RBTAIL: z.looseObject({ value: z.int(), tail: z.int() }),
      STATUS: z.looseObject({ value: z.int(), engineReady: z.boolean(), driverInit: z.boolean(), rbErr: z.boolean(), wptrErr: z.boolean(), toggle: z.boolean() }),
      engine: z.looseObject({ initialised: z.boolean(), paused: z.boolean(), stopped: z.boolean(), ringSpa: hexOut, ringEntries: z.int(), pending: z.int(), interrupts: z.int(), commands: z.int() }),
    }),
  }),

  'tmpm.submit': method({
    summary: 'Write one ring entry at the head, ring RBHEAD and wait for it',
    description:
      "The entry goes at the head the emulator last saw written (a client driving the ring itself keeps its own head and should not mix them). Virtual mode: runs the clock to the entry's end. Not initialised, paused or stopped: -32002; ring full (the driver's -EAGAIN): -32003.",
    params: z.strictObject({
      command: intRange(0, 0xff).describe('cmd_reg bits 7:0: 0x00 GET_CAPABILITIES, 0x01 NOOP, 0x05 PSMASH_IO, 0x06 PUNSMASH_IO (ours)'),
      listSpa: addr64('0x7000', 'list_paddr: the command page'),
      pages: intRange(0, 0xfff).exactOptional().describe('cmd_reg bits 27:16; these commands take 0'),
    }),
    result: z.looseObject({ ...tmpmStatusFields, ...timing }),
  }),

  'tmpm.psmashIo': method({
    summary: 'PSMASH_IO: replace a 2 MB IOMMU leaf by a table of 512 4 KB PTEs and PSMASH the RMP, under a DMA stall',
    description:
      'Builds the command page in a pool page, submits it through the ring and returns the statuses as the gctx word reads afterwards. Checks in order: platform state, gctx reserved bits, gctx page, src page, PTE page (INVALID_HPTE_PADDR / INVALID_OVERLAP), entry (INVALID_PAGE_PADDR, MEM_ABORTED), entry size, address match, RMP (INVALID_GUEST / INVALID_PAGE_STATE), the 512 PTEs; the first failure changes nothing. Addresses are raw 64-bit values; the C-bit is stripped by the engine.',
    params: z.strictObject({
      srcPgSpa: addr64('0x100200000', 'src_pg_paddr: the 2 MB page'),
      smashHpteSpa: addr64('0xfc0202000', 'smash_hpte_paddr: a 4 KB page already holding the 512 new PTEs'),
      srcHpmdSpa: addr64('0xfc0201008', 'src_hpmd_paddr: the 8-byte IOMMU entry mapping the 2 MB page'),
      gctxSpa: addr64('0xfc0200000', 'the guest context page (bits 51:12 of the gctx word; bits 11:0 and 63:52 must be 0)'),
      ...preparedInfo,
    }),
    result: z.looseObject({ ...smashOut, rmpSmashed: z.boolean().describe('the RMP entry was split (a 4 KB or hypervisor-owned region is left as is)') }),
    examples: [
      {
        name: 'smash the second 2 MB of device 01:00.0 on the default platform',
        description: 'Setup: tmpm.preparePsmash {domainId: 1, iova: "0x200000"}, whose result is these params. stallNs is 2 ms +/- the seeded uniform jitter; the gctx word reads the context page | 0xF0.',
        params: { srcPgSpa: '0x100200000', smashHpteSpa: '0xfc0256000', srcHpmdSpa: '0xfc0202008', gctxSpa: '0xfc0200000' },
        result: { status: 0xf0, statusName: 'SUCCESS', subStatus: 0, pteError: 0, pteSubError: 0, index: 0, stallNs: 2_068_606, dmaHeld: 0, startNs: 0, endNs: 2_068_606, gctxWord: '0xfc02000f0', rmpSmashed: true },
        vary: ['stallNs', 'endNs'],
      },
    ],
  }),

  'tmpm.punsmashIo': method({
    summary: 'PUNSMASH_IO: merge a table of 512 contiguous 4 KB PTEs back into the 2 MB leaf and the RMP into a 2 MB entry',
    description:
      'Checks 1-4, 6 and 9 of PSMASH_IO, then a present table pointer (INVALID_PAGE_SIZE), 512 contiguous leaves of src_pg_paddr (INVALID_HPTE_PADDR with the PTE error) and a mergeable RMP (INVALID_PAGE_STATE). `hpteSpa` is the removed table: the caller frees it.',
    params: z.strictObject({
      srcPgSpa: addr64('0x100200000', 'src_pg_paddr: the 2 MB page'),
      srcHpmdSpa: addr64('0xfc0201008', 'src_hpmd_paddr: the entry that points at the 4 KB table'),
      gctxSpa: addr64('0xfc0200000', 'the guest context page'),
    }),
    result: z.looseObject({ ...smashOut, rmpMerged: z.boolean(), hpteSpa: hexOut.exactOptional().describe('the table the entry pointed at (smash_hpte_paddr as written back)') }),
  }),

  'tmpm.preparePsmash': method({
    summary: "The arguments of tmpm.psmashIo for a 2 MB leaf, as KVM and AMD's driver prepare them",
    description:
      "Walks the domain's tables to the 2 MB leaf for iova (else -32602), fills a pool page with the 512 PTEs as AMD's driver does (low 12 bits 0x001, address old + i x 4 KB, bits 63:52 copied) and names the guest context of the guest the domain's devices are bound to (else the first guest). The PTE page is the caller's. The whole result is valid params of tmpm.psmashIo as is (entry and asid are accepted there and ignored).",
    params: z.strictObject({ domainId, iova: hex64('0x200000').describe('IOVA of the 2 MB leaf (2 MB aligned)') }),
    result: z.looseObject({
      srcPgSpa: hexOut,
      smashHpteSpa: hexOut,
      srcHpmdSpa: hexOut,
      gctxSpa: hexOut,
      entry: hexOut.describe('the leaf now (tmpm.psmashIo accepts it and ignores it)'),
      asid: z.int().describe('the gctx guest (tmpm.psmashIo accepts it and ignores it)'),
    }),
    examples: [
      {
        name: 'the second 2 MB of domain 1 on the default platform',
        params: { domainId: 1, iova: '0x200000' },
        result: { srcPgSpa: '0x100200000', smashHpteSpa: '0xfc0256000', srcHpmdSpa: '0xfc0202008', gctxSpa: '0xfc0200000', entry: '0x6000000100200001', asid: 1 },
        vary: ['smashHpteSpa', 'srcHpmdSpa', 'gctxSpa'],
      },
    ],
  }),

  'tmpm.getCapabilities': method({
    summary: 'GET_CAPABILITIES through the ring, decoded',
    description: 'cap_reg, fw_reg (31:24 major, 23:16 minor; default 1.0), spec_reg (0.51), support_reg (bit 4 RELOAD, 6 PSMASH, 7 PUNSMASH).',
    params: noParams,
    result: z.looseObject({
      ...tmpmStatusFields,
      capReg: z.int(),
      fwReg: z.int(),
      specReg: z.int(),
      supportReg: z.int(),
      fwVersion: z.string(),
      specVersion: z.string(),
      reload: z.boolean(),
      psmash: z.boolean(),
      punsmash: z.boolean(),
    }),
    examples: [
      {
        name: 'default engine',
        params: {},
        result: { status: 240, statusName: 'SUCCESS', capReg: 0, fwReg: 16777216, specReg: 3342336, supportReg: 192, fwVersion: '1.0', specVersion: '0.51', reload: false, psmash: true, punsmash: true },
      },
    ],
  }),

  'tmpm.getStallModel': method({
    summary: 'The stall model of PSMASH_IO / PUNSMASH_IO',
    description: 'duration = baseNs + 512 x perEntryNs + jitter, clamped at >= 0.',
    params: noParams,
    result: stallModelOut,
    examples: [
      {
        name: 'default',
        params: {},
        result: { baseNs: 2_000_000, perEntryNs: 0, jitter: { dist: 'uniform', spreadNs: 500_000 }, scope: 'domain', policy: 'hold', completionTimeoutNs: 50_000_000 },
      },
    ],
  }),

  'tmpm.setStallModel': method({
    summary: 'Change the stall model (merges)',
    description: 'Absent keys keep their value; `jitter` may be partial too. Returns the whole new model.',
    params: stallModelPatch,
    result: stallModelOut,
    examples: [
      {
        name: 'no jitter',
        params: { jitter: { dist: 'none' } },
        result: { baseNs: 2_000_000, perEntryNs: 0, jitter: { dist: 'none', spreadNs: 500_000 }, scope: 'domain', policy: 'hold', completionTimeoutNs: 50_000_000 },
      },
    ],
  }),
} as const;
