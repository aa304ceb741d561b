/**
 * psp.*, pci.doe and tio.*: the PSP's SEV mailbox as a device, the devices' DOE
 * mailboxes and the TIO conveniences (protocol/README.md §4.6; docs/sev-firmware.md).
 * Firmware outcomes are SEV statuses in results, never JSON-RPC errors; a register
 * offset the mailbox does not have is -32602.
 */
import * as z from 'zod';
import { fwStatusFields, method } from './method-spec.js';
import { deviceId, err, hexOut, intRange, noParams, okResult } from './wire.js';

const regValue = intRange(0, 0xffff_ffff).describe('a 32-bit register value');
const regOffset = z.int('must be an integer byte offset').describe('byte offset in BAR 2: 0x10690 INTEN, 0x10694 INTSTS, 0x10980 CMDRESP, 0x109e0 CMDBUFF_ADDR_LO, 0x109e4 CMDBUFF_ADDR_HI, 0x109fc FEATURE');
const hexBytes = z
  .string(err('must be a string of hex digits, two a byte, no 0x'))
  .max(2 * 65536, 'must be at most 65536 bytes')
  .regex(/^(?:[0-9a-fA-F]{2})+$/, 'must be hex digits, two a byte (no 0x), at least one byte');

const tioResult = z.looseObject({
  ...fwStatusFields,
  deviceId: z.int(),
  steps: z.int().min(0).describe('SPDM messages relayed (SPDM_REQUEST answers)'),
});

export const PSP_METHODS = {
  'psp.readReg': method({
    summary: "Read a register of the PSP's SEV mailbox",
    description: 'CMDRESP: bits 26:16 the command id, 15:0 the status, 31 RESP (set when done). FEATURE reads 1 (SEV). INTSTS bit 1 SEV_CMD_COMPLETE. Another offset is -32602.',
    params: z.strictObject({ offset: regOffset }),
    result: z.looseObject({ offset: z.int(), value: z.int().min(0).max(0xffff_ffff) }),
    examples: [{ name: 'FEATURE', params: { offset: 0x109fc }, result: { offset: 0x109fc, value: 1 } }],
  }),

  'psp.writeReg': method({
    summary: "Write a register of the PSP's SEV mailbox",
    description:
      'A CMDRESP write issues the command in bits 26:16 (IOC in bit 0) with the buffer at CMDBUFF_ADDR_HI:LO (C-bit stripped): the firmware clears bit 31, runs it for psp.cmdNs of virtual time (default 10000 ns), writes the outputs and CMDRESP = bit 31 | id << 16 | status, and with IOC and INTEN bit 1 sets INTSTS bit 1 (topic psp). A CMDRESP write while a command runs is ignored. INTSTS is write-1-to-clear; FEATURE is read-only (-32602).',
    params: z.strictObject({ offset: regOffset, value: regValue }),
    result: okResult,
  }),

  'psp.regs': method({
    summary: 'Every SEV mailbox register, raw and decoded, and what the firmware is doing',
    description:
      'Each register as {offset, value, ...decoded}; `firmware` gives the running command, SNP/TIO state, the device contexts, the TDI contexts (`tdis`: function, TDISP state, ASID, context pages), the ASID fences (`fences`: device, ASID), an SPDM or TDISP exchange under way, and counts.',
    params: noParams,
    result: z.looseObject({
      CMDRESP: z.looseObject({ value: z.int(), command: z.int(), status: z.int(), resp: z.boolean(), ioc: z.boolean() }),
      INTSTS: z.looseObject({ value: z.int(), sevCmdComplete: z.boolean() }),
      firmware: z.looseObject({
        busy: z.boolean(),
        snpInit: z.boolean(),
        tioInit: z.boolean(),
        tioEn: z.boolean(),
        devices: z.array(z.looseObject({ deviceId: z.int(), state: z.enum(['created', 'connected']), pages: z.int(), ctxSpa: hexOut })).describe('live TIO device contexts'),
        commands: z.int(),
        interrupts: z.int(),
      }),
    }),
  }),

  'pci.doe': method({
    summary: "One exchange with a device's DOE mailbox (PCI-SIG CMA or SSESSION)",
    description:
      'The emulated device answers SPDM 1.2 requests (GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS, GET_DIGESTS, GET_CERTIFICATE, KEY_EXCHANGE on cma; FINISH, GET_MEASUREMENTS, VENDOR_DEFINED_REQUEST (IDE_KM, TDISP), END_SESSION as secured messages on ssession: the 4-byte session id, then the message). No cryptography. A fault rule spdm.NAME makes it answer ERROR. A device that is not TEE-IO capable has no DOE mailbox: -32602.',
    params: z.strictObject({ deviceId, feature: z.enum(['cma', 'ssession']).describe('cma: plain SPDM; ssession: secured SPDM'), request: hexBytes.describe('the request, lowercase hex, two digits a byte') }),
    result: z.looseObject({ response: z.string().describe('the answer, lowercase hex') }),
    examples: [{ name: 'GET_VERSION', params: { deviceId: 0x200, feature: 'cma', request: '10840000' }, result: { response: '100400000001' + '0012' } }],
  }),

  'tio.connect': method({
    summary: "TIO_DEV_CREATE, TIO_DEV_CONNECT, TIO_DEV_MEASUREMENTS and TIO_DEV_CERTIFICATES with the SPDM relay, as AMD's tree connects a device",
    description:
      "Allocates the device context and the SPDM buffers (firmware pages; resp hypervisor-owned), creates the context, then issues TIO_DEV_CONNECT and relays every SPDM_REQUEST through pci.doe until it ends; then TIO_DEV_MEASUREMENTS (RAW_BITSTREAM, a zero nonce; one GET_MEASUREMENTS relayed) and TIO_DEV_CERTIFICATES as a self-check, as AMD's dsm_connect. On a failure of the connect or the measurement the context is reclaimed (disconnected with FORCE first when connected) and its pages given back. `certificateBytes`: the chain the connect wrote to output; `measurementBytes`: the measurement record; `certificatesMatch`: DEV_CERTIFICATES gave the connect's chain; `connectStatus`: the connect's status when the measurement failed.",
    params: z.strictObject({ deviceId }),
    result: tioResult.extend({
      certificateBytes: z.int().exactOptional(),
      measurementBytes: z.int().min(0).exactOptional().describe('the measurement record TIO_DEV_MEASUREMENTS wrote to output (data object 5)'),
      certificatesMatch: z.boolean().exactOptional().describe("TIO_DEV_CERTIFICATES' chain equals the connect's (Linux only logs a mismatch)"),
      connectStatus: z.string().exactOptional().describe("TIO_DEV_CONNECT's status name when TIO_DEV_MEASUREMENTS failed after it"),
    }),
  }),

  'tio.disconnect': method({
    summary: 'TIO_DEV_DISCONNECT (relaying END_SESSION, or FORCE), TIO_DEV_RECLAIM and every page back',
    description:
      'Without force one secured END_SESSION; a failure is retried with FORCE as Linux does (FORCE unbinds the TDI). Then TIO_DEV_RECLAIM and SNP_PAGE_RECLAIM of each page. No context for the device: INVALID_DEV_CTX.',
    params: z.strictObject({ deviceId, force: z.boolean().default(false).describe('FORCE: nothing exchanged, TDIs unbound') }),
    result: tioResult.extend({ forced: z.boolean(), reclaimStatus: z.string() }),
  }),
} as const;

export { hexOut };
