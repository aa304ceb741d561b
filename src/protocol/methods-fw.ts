/**
 * fw.*: the SNP / SEV-TIO firmware (DESIGN.md "Firmware state", "The smash engine",
 * "Stall model"). Firmware outcomes are results `{status, statusName, detail?}`,
 * never JSON-RPC errors; addresses are not alignment-checked here because a bad one
 * is the firmware's INVALID_ADDRESS.
 */
import * as z from 'zod';
import { fwResult, fwStatusFields, method, stallModelOut } from './method-spec.js';
import { jitterDist, stallPolicy, stallScope } from './scenario-schema.js';
import { asid, deviceId, domainId, hex64, hexAddr, hexOut, noParams, ns } from './wire.js';

/**
 * Present when status is SUCCESS. A failed check changes nothing and returns only
 * status, statusName and detail; so does an injected status (fault.add), which is
 * why these are optional rather than zero-filled.
 */
const stallFields = {
  stallNs: z.int().min(0).exactOptional().describe('how long DMA in scope was stalled, ns'),
  rmpSmashed: z.boolean().exactOptional().describe('the RMP entry changed size (PSMASH / PAGE_UNSMASH); false for a hypervisor-owned region'),
  dmaHeld: z.int().min(0).exactOptional().describe('requests that arrived during the stall and waited (policy hold; those that then timed out included); 0 under policy abort'),
  startNs: z.int().min(0).exactOptional().describe('virtual time the stall began'),
  endNs: z.int().min(0).exactOptional().describe('virtual time DMA resumed'),
};

const iova2m = hex64('0x200000').describe('IOVA of the 2 MB region (2 MB aligned, else INVALID_PARAM)');
const iopdeSpa = hexAddr('0x7fffe010').describe('SPA of the 8-byte level-2 entry (the IOPDE) the walk for iova reaches');

const stallModelPatch = z.strictObject({
  baseNs: ns('fixed part of a stall').exactOptional(),
  perEntryNs: ns('per PTE; a smash rewrites 512').exactOptional(),
  jitter: z.strictObject({ dist: jitterDist.exactOptional(), spreadNs: ns('jitter spread').exactOptional() }).exactOptional().describe('partial: absent keys keep their value'),
  scope: stallScope.exactOptional().describe('domain: stall the devices of the domain; iommu: every device'),
  policy: stallPolicy.exactOptional().describe('hold: requests wait; abort: they fail'),
  completionTimeoutNs: ns('a held request fails as timeout at arrival + this').exactOptional(),
});

export const FW_METHODS = {
  'fw.platformStatus': method({
    summary: 'SNP and TIO state and the TDI bindings',
    description: 'Always SUCCESS.',
    params: noParams,
    result: z.looseObject({
      ...fwStatusFields,
      snpInit: z.boolean(),
      tioInit: z.boolean(),
      tdis: z.array(z.looseObject({ deviceId: z.int(), asid: z.int() })).describe('bound TEE-IO functions'),
    }),
    examples: [
      {
        name: 'default platform',
        params: {},
        result: { status: 0, statusName: 'SUCCESS', snpInit: true, tioInit: true, tdis: [{ deviceId: 256, asid: 1 }] },
      },
    ],
  }),

  'fw.init': method({
    summary: 'SNP_INIT and TIO_INIT',
    description: 'INVALID_PLATFORM_STATE when already initialised.',
    params: noParams,
    result: fwResult,
  }),

  'fw.shutdown': method({
    summary: 'SNP_SHUTDOWN',
    description: 'Always succeeds; keeps the RMP, tables and bindings, but firmware commands return INVALID_PLATFORM_STATE until fw.init.',
    params: noParams,
    result: fwResult,
  }),

  'fw.tdiBind': method({
    summary: 'TDI_BIND (0xDC): bind a device to a guest as a TEE-IO function',
    description: 'Its IOVA becomes the guest GPA for the RMP check. Unknown guest: INVALID_ASID; already bound: INVALID_TDI_STATE.',
    params: z.strictObject({ deviceId, asid: asid.describe('ASID of a guest of the platform') }),
    result: fwResult,
  }),

  'fw.tdiUnbind': method({
    summary: 'TDI_UNBIND (0xDD)',
    description: 'Not bound: INVALID_TDI_STATE.',
    params: z.strictObject({ deviceId }),
    result: fwResult,
  }),

  'fw.smashIopde': method({
    summary: 'The smash engine: replace a 2 MB IOPDE by a table of 512 4 KB PTEs and PSMASH the RMP, under a DMA stall',
    description:
      'Checks in the order of protocol/README.md section 4.3 (platform state, addresses, domain and alignment, in-use, walk, IOPDE, table owner, the 512 PTEs, the RMP); the first failure returns its status and `detail` and changes nothing. On SUCCESS the stall runs [startNs, endNs); in virtual mode the call advances the clock to endNs.',
    params: z.strictObject({
      domainId,
      iova: iova2m,
      iopdeSpa,
      tableSpa: hexAddr('0x7ffff000').describe('SPA of a 4 KB page holding the 512 new PTEs: the old IOPDE with address + i x 4 KB'),
    }),
    result: z.looseObject({ ...fwStatusFields, ...stallFields }),
    examples: [
      {
        name: 'smash the second 2 MB of device 01:00.0 on the default platform',
        description:
          'Setup: iopdeSpa = iommu.walk {deviceId: 256, iova: "0x200000"} steps[1].entrySpa; tableSpa = mem.alloc {pages: 1}, filled by mem.write64 with 0x6000000100200001 + i x 0x1000 (i = 0..511). stallNs is 2 ms +/- the seeded uniform jitter.',
        params: { domainId: 1, iova: '0x200000', iopdeSpa: '0xfc0201008', tableSpa: '0xfc0224000' },
        result: { status: 0, statusName: 'SUCCESS', stallNs: 2_068_606, rmpSmashed: true, dmaHeld: 0, startNs: 0, endNs: 2_068_606 },
        vary: ['stallNs', 'endNs'],
      },
    ],
  }),

  'fw.unsmashIopde': method({
    summary: 'The inverse: merge a table of 512 contiguous 4 KB PTEs back into a 2 MB IOPDE and PAGE_UNSMASH the RMP',
    description: 'Same checks 1-5 with the level-2 entry a table pointer; then the leaves must be contiguous with identical other bits and the RMP mergeable. `tableSpa` is returned for the caller to mem.free.',
    params: z.strictObject({ domainId, iova: iova2m, iopdeSpa }),
    result: z.looseObject({ ...fwStatusFields, ...stallFields, tableSpa: hexOut.exactOptional().describe('the table page the IOPDE pointed to; now free for mem.free') }),
  }),

  'fw.pageUnsmash': method({
    summary: 'SNP_PAGE_UNSMASH (0xC8): merge 512 4 KB RMP entries into one 2 MB entry',
    description: 'The IOMMU tables are not touched.',
    params: z.strictObject({ spa: hexAddr('0x100000000').describe('2 MB aligned SPA') }),
    result: fwResult,
  }),

  'fw.getStallModel': method({
    summary: 'The stall model',
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

  'fw.setStallModel': method({
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
