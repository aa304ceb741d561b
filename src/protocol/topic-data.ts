/**
 * What `data` holds in an `events.notify` of each topic, for protocol/openrpc.json
 * (`x-topic-data`, and the `data` param's description). The map is typed by
 * EVENT_TOPICS, so a new topic does not compile until its data is described here.
 */
import * as z from 'zod';
import type { EventTopic } from '../observe/event-bus.js';
import { failureDetail } from './method-spec.js';
import { eventOut } from './methods-iommu.js';
import { rmpEntryOut } from './methods-mem.js';
import { hexOut } from './wire.js';
import { codeName, codeValue } from './code-tables.js';

export const TOPIC_DATA: { readonly [T in EventTopic]: z.ZodType } = {
  fw: z
    .looseObject({
      command: z.string().describe('the method, e.g. fw.tdiBind'),
      params: z.record(z.string(), z.unknown()).describe('its params as the client sent them'),
      result: z.looseObject({ status: z.int(), statusName: z.string(), detail: failureDetail.exactOptional() }).describe('its result, as the caller received it'),
    })
    .describe('each SEV firmware command (fw.*), injected results included'),
  tmpm: z
    .union([
      z.looseObject({
        kind: z.literal('command'),
        index: z.int().min(0).describe('the ring index the entry ran at'),
        command: z.int().min(0).max(0xff).describe('cmd_reg bits 7:0'),
        commandName: z.string().describe('GET_CAPABILITIES, NOOP, PSMASH_IO, PUNSMASH_IO (or the number, unknown)'),
        listSpa: hexOut.describe('list_paddr, C-bit stripped'),
        status: codeValue('TmpmStatus', 'the status written to status_reg (0xF0 SUCCESS)'),
        statusName: codeName('TmpmStatus', 'its name'),
        startNs: z.int().min(0),
        endNs: z.int().min(0),
        stallNs: z.int().min(0),
        dmaHeld: z.int().min(0),
        detail: failureDetail.exactOptional(),
      }),
      z.looseObject({
        kind: z.literal('control'),
        rbctl: z.int().min(0),
        init: z.boolean(),
        pause: z.boolean(),
        driverInit: z.boolean(),
        rbErr: z.boolean(),
        toggle: z.boolean(),
      }),
      z.looseObject({ kind: z.literal('interrupt'), reason: z.enum(['RB_ERR', 'WPTR_ERR']), why: z.string(), status: z.int().min(0) }),
    ])
    .describe('the TMPM: each ring entry finished (kind command), each RBCTL write applied (control), each interrupt'),
  stall: z
    .looseObject({
      phase: z.enum(['begin', 'end']),
      command: z.string().describe('the command that stalls DMA: tmpm.PSMASH_IO or tmpm.PUNSMASH_IO'),
      index: z.int().min(0).describe('its ring index'),
      domainId: z.int().describe('the first domain whose tables reach the entry'),
      iova: hexOut.describe('the 2 MB IOVA the entry maps in that domain'),
      domains: z.array(z.looseObject({ domainId: z.int(), iova: hexOut })).describe('every domain the entry serves, with its IOVA'),
      srcPgSpa: hexOut.describe('the 2 MB page'),
      scope: z.enum(['domain', 'iommu']).describe("what is stalled: the domain's devices, or every device"),
      policy: z.enum(['hold', 'abort']).describe('what happens to DMA arriving meanwhile'),
      startNs: z.int().min(0),
      endNs: z.int().min(0),
    })
    .describe('the beginning and the end of each DMA stall (atNs: startNs, then endNs)'),
  iommu: eventOut.describe('each event logged in the IOMMU event log, as iommu.events returns it'),
  rmp: z
    .looseObject({
      op: z.enum(['rmpupdate', 'psmash', 'pvalidate', 'unsmash', 'reclaim']).describe('what changed the entry'),
      spa: hexOut.describe('the page (or 2 MB base) changed'),
      pageSize: z.enum(['4K', '2M']),
      entry: rmpEntryOut.describe('the entry after the change, as rmp.read returns it'),
    })
    .describe('each change of an RMP entry'),
  dma: z
    .looseObject({
      deviceId: z.int(),
      streamId: z.union([z.string(), z.null()]).describe('the stream, or null for dma.issue'),
      iova: hexOut,
      write: z.boolean(),
      outcome: z.enum(['io_page_fault', 'rmp_fault', 'timeout', 'aborted']).describe('never ok: completed requests are not notified'),
      latencyNs: z.int().min(0),
      atNs: z.int().min(0),
    })
    .describe('each DMA request that did not complete normally'),
  psp: z
    .union([
      z.looseObject({ kind: z.literal('start'), seq: z.int(), command: z.int(), commandName: z.string(), bufferSpa: hexOut.describe('the buffer address, C-bit stripped'), ioc: z.boolean(), endNs: z.int().min(0) }),
      z.looseObject({
        kind: z.literal('command'),
        seq: z.int(),
        command: z.int().describe('the command id (CMDRESP bits 26:16)'),
        commandName: z.string().describe('e.g. SNP_PAGE_RECLAIM, TIO_DEV_CONNECT (the number when unknown)'),
        status: codeValue('SevStatus', 'the status written to CMDRESP bits 15:0'),
        statusName: codeName('SevStatus', 'its name'),
        startNs: z.int().min(0),
        endNs: z.int().min(0),
        cmdresp: z.int().describe('CMDRESP as the firmware left it'),
        detail: failureDetail.exactOptional(),
      }),
      z.looseObject({
        kind: z.literal('spdm'),
        command: z.string(),
        deviceId: z.int(),
        phase: z.enum(['request', 'response']).describe('the firmware wrote a request to req, or read the answer in resp'),
        request: z.union([z.string(), z.int()]).describe('the SPDM request, e.g. GET_CERTIFICATE'),
      }),
      z.looseObject({ kind: z.literal('doe'), deviceId: z.int(), feature: z.enum(['cma', 'ssession']), request: z.string().describe('the first 64 bytes, hex'), response: z.string() }),
      z.looseObject({ kind: z.literal('interrupt'), intsts: z.int(), command: z.int(), commandName: z.string() }),
      z.looseObject({ kind: z.literal('ignored'), value: z.int(), running: z.string(), why: z.string() }),
    ])
    .describe('the PSP: each command started and finished, each SPDM step of an exchange, each pci.doe, each completion interrupt, each CMDRESP write ignored while a command ran'),
  clock: z
    .looseObject({ phase: z.literal('progress'), fromNs: z.int().min(0), nowNs: z.int().min(0), targetNs: z.int().min(0) })
    .describe('progress of a clock.advance longer than one chunk (50,000 events or 5 ms of wall time), after each chunk'),
};
