/**
 * Wire methods of the TDI lifecycle's ASID fence (protocol/README.md §4.7): the
 * conveniences over TIO_ASID_FENCE_STATUS and TIO_ASID_FENCE_CLEAR.
 */
import * as z from 'zod';
import { fwStatusFields, method } from './method-spec.js';
import { asid, deviceId } from './wire.js';

const fenceResult = z.looseObject({
  ...fwStatusFields,
  deviceId: z.int(),
  asid: z.int(),
  fenced: z.boolean().exactOptional().describe("the function's DMA to the ASID fails the RMP check (flag fenced); absent when the command was refused before it ran"),
});

export const TDI_METHODS = {
  'tio.fenceStatus': method({
    summary: 'TIO_ASID_FENCE_STATUS (0xE2) for a device and a guest ASID',
    description:
      'Issues the command with a firmware data page and decodes the u64: dmaFence bits 1:0 (0 not fenced, 3 default-fenced after an unbind or a TDI ERROR), mmioFence bits 3:2. No device context: INVALID_DEV_CTX; no such guest: INVALID_ASID.',
    params: z.strictObject({ deviceId, asid }),
    result: fenceResult.extend({ dmaFence: z.int().min(0).max(3).exactOptional(), mmioFence: z.int().min(0).max(3).exactOptional() }),
  }),
  'tio.fenceClear': method({
    summary: "TIO_ASID_FENCE_CLEAR (0xE1): lift the device's DMA fence from a guest's ASID",
    description:
      "Names the guest by its context page (gctx_paddr). After it the device is an untrusted device again for that guest's pages (RMP flag assigned, no longer fenced). No device context: INVALID_DEV_CTX; no such guest: INVALID_ASID.",
    params: z.strictObject({ deviceId, asid }),
    result: fenceResult,
  }),
} as const;
