/**
 * fw.*: the SNP / SEV-TIO firmware (protocol/README.md §4.1-4.2). Firmware outcomes
 * are results `{status, statusName, detail?}` with SEV statuses, never JSON-RPC
 * errors; addresses are not alignment-checked here because a bad one is the
 * firmware's INVALID_ADDRESS. The smash engine is the TMPM (methods-tmpm.ts).
 */
import * as z from 'zod';
import { fwResult, fwStatusFields, method } from './method-spec.js';
import { asid, deviceId, hexAddr, noParams } from './wire.js';

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

  'fw.pageUnsmash': method({
    summary: 'SNP_PAGE_UNSMASH (0xC8): merge 512 4 KB RMP entries into one 2 MB entry',
    description: 'The IOMMU tables are not touched.',
    params: z.strictObject({ spa: hexAddr('0x100000000').describe('2 MB aligned SPA') }),
    result: fwResult,
  }),

} as const;
