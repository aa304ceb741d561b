/**
 * fw.*: the SNP / SEV-TIO firmware (protocol/README.md §4.1-4.2). Firmware outcomes
 * are results `{status, statusName, detail?}` with SEV statuses, never JSON-RPC
 * errors; addresses are not alignment-checked here because a bad one is the
 * firmware's INVALID_ADDRESS. The smash engine is the TMPM (methods-tmpm.ts).
 */
import * as z from 'zod';
import { fwResult, fwStatusFields, method } from './method-spec.js';
import { asid, deviceId, hexAddr, noParams, pageSize } from './wire.js';

export const FW_METHODS = {
  'fw.platformStatus': method({
    summary: 'SNP_PLATFORM_STATUS through the mailbox, decoded, with TIO state and the TDI bindings',
    description:
      'Issues SNP_PLATFORM_STATUS to a page (made a firmware page once SNP is up, reclaimed after): apiVersion, state, guestCount from the status page; snpInit, tioEn, tioInit, device contexts and bindings from the firmware.',
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
    summary: 'SNP_INIT_EX (tio_en when supported), SNP_DF_FLUSH and TIO_INIT through the mailbox',
    description: 'INVALID_PLATFORM_STATE when already initialised.',
    params: noParams,
    result: fwResult,
  }),

  'fw.shutdown': method({
    summary: 'Disconnect (FORCE) and reclaim every TIO device context, then SNP_SHUTDOWN_EX',
    description: 'Always succeeds; keeps the RMP and tables (FORCE unbinds the TDIs of connected devices); firmware commands then return INVALID_PLATFORM_STATE until fw.init.',
    params: noParams,
    result: fwResult,
  }),

  'fw.tdiBind': method({
    summary: 'Bind a device to a guest as a TEE-IO function: its TDI to RUN through the mailbox',
    description:
      "The sequence AMD's tree sends: TIO_DEV_CREATE and TIO_DEV_CONNECT when the device is not connected, TIO_TDI_CREATE, TIO_TDI_BIND (TDISP LOCK_INTERFACE and GET_DEVICE_INTERFACE_REPORT, relayed), TIO_TDI_BIND with RUN_FORCE (START_INTERFACE), TIO_TDI_STATUS; host_domain_id is the DTE's domain. While the TDI is in RUN its IOVA is the guest GPA for the RMP check. Unknown guest: INVALID_ASID; a TDI already bound: INVALID_TDI_STATE; the device refusing a TDISP request: SPDM_ERROR (the unbind path runs: a TDI that got locked ends fenced). `tdispState`, `steps` (messages relayed), `reportBytes`.",
    params: z.strictObject({ deviceId, asid: asid.describe('ASID of a guest of the platform') }),
    result: fwResult,
  }),

  'fw.tdiUnbind': method({
    summary: 'Unbind a TEE-IO function: TIO_TDI_UNBIND (STOP_INTERFACE, or FORCE), then TIO_TDI_RECLAIM',
    description:
      "TIO_TDI_UNBIND relaying STOP_INTERFACE (FORCE: nothing exchanged; a failure is retried with FORCE as Linux does), TIO_TDI_STATUS, TIO_ASID_FENCE_STATUS, TIO_TDI_RECLAIM and the TDI context's pages back. The device's DMA to the guest's pages stays fenced (RMP flag fenced) until tio.fenceClear. No bound TDI: INVALID_TDI_STATE. `forced`, `unbindStatus` (the first attempt's, when it failed), `tdispState`, `dmaFence`, `reclaimStatus`.",
    params: z.strictObject({ deviceId, force: z.boolean().default(false).describe('FORCE: the device is not asked (STOP_INTERFACE skipped)') }),
    result: fwResult,
  }),

  'fw.pageUnsmash': method({
    summary: 'SNP_PAGE_UNSMASH (0xC8): merge 512 4 KB RMP entries into one 2 MB entry',
    description: 'The IOMMU tables are not touched.',
    params: z.strictObject({ spa: hexAddr('0x100000000').describe('2 MB aligned SPA') }),
    result: fwResult,
  }),

  'fw.pageReclaim': method({
    summary: 'SNP_PAGE_RECLAIM (0xC7): clear Immutable on a firmware, Hypervisor-Fixed or reclaimed TIO context page',
    description:
      'paddr bit 0 is the page size. A live guest context page or a page of a live TIO context: INVALID_PAGE_STATE; misaligned: INVALID_ADDRESS. A Hypervisor-Fixed page becomes an ordinary hypervisor page (RMPUPDATE then succeeds); a firmware page stays Assigned to ASID 0 until RMPUPDATE.',
    params: z.strictObject({ spa: hexAddr('0xfc0400000').describe('4 KB (2 MB for pageSize 2M) aligned SPA'), pageSize: pageSize.default('4K') }),
    result: fwResult,
  }),
} as const;
