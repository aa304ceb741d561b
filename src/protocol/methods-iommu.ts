/**
 * iommu.*: the AMD IOMMU v1 (docs/hardware.md §3-4): device table entries, page walks,
 * the 16-byte commands, the event log, and iommu.map / iommu.unmap, which edit the
 * real tables in memory as a host driver would (no invalidation: the IOTLB changes
 * only through commands, iommu.setDte and the firmware).
 */
import * as z from 'zod';
import { method } from './method-spec.js';
import { PAGE_4K, deviceId, domainId, err, hex64, hexAddr, hexLength, hexOut, hexWord32Out, intRange, sizeLg2 } from './wire.js';

const iova = hex64('0x201000').describe('I/O virtual address (64-bit)');
const iova4k = hex64('0x200000')
  .refine((v) => v % BigInt(PAGE_4K) === 0n, 'must be 4 KB aligned; fix: round it to a multiple of 0x1000')
  .describe('IOVA, 4 KB aligned');
const dteMode = intRange(0, 7, ' (0 pass-through, 1..6 levels, 7 reserved)');

const DTE_FIELD_KEYS = ['valid', 'translationValid', 'mode', 'root', 'read', 'write', 'domainId'] as const;

/** The decoded DTE fields iommu.setDte writes (the rest of the 256 bits are 0). */
export interface DteFieldsIn {
  valid: boolean;
  translationValid: boolean;
  mode: number;
  root: number;
  read: boolean;
  write: boolean;
  domainId: number;
}

export type SetDteParams = { deviceId: number; qwords: bigint[] } | { deviceId: number; fields: DteFieldsIn };

const setDteParams = z
  .strictObject({
    deviceId,
    qwords: z.array(hex64('0x6000000010000603')).min(1, 'must hold 1..4 qwords').max(4, 'must hold 1..4 qwords').exactOptional().describe('raw DTE qwords 0..3 (missing ones are 0); or give the decoded fields instead'),
    valid: z.boolean().exactOptional().describe('V; default true'),
    translationValid: z.boolean().exactOptional().describe('TV; default true'),
    mode: dteMode.exactOptional().describe('page-table levels; default 3'),
    root: hexAddr('0x10000000', PAGE_4K).exactOptional().describe('SPA of the root table, 4 KB aligned; required when V, TV and mode > 0'),
    read: z.boolean().exactOptional().describe('IR; default true'),
    write: z.boolean().exactOptional().describe('IW; default true'),
    domainId: domainId.exactOptional().describe('required when V, TV and mode > 0'),
  })
  .transform((p, ctx): SetDteParams => {
    const given = DTE_FIELD_KEYS.filter((k) => p[k] !== undefined);
    if (p.qwords !== undefined) {
      for (const k of given) ctx.issues.push({ code: 'custom', path: [k], input: p[k], message: 'give either qwords or the decoded fields, not both; fix: remove it or remove qwords' });
      const q = [...p.qwords];
      while (q.length < 4) q.push(0n);
      return { deviceId: p.deviceId, qwords: q };
    }
    if (given.length === 0) {
      ctx.issues.push({ code: 'custom', path: [], input: p, message: `give qwords or the decoded fields (${DTE_FIELD_KEYS.join(', ')})` });
    }
    const fields: DteFieldsIn = {
      valid: p.valid ?? true,
      translationValid: p.translationValid ?? true,
      mode: p.mode ?? 3,
      root: p.root ?? 0,
      read: p.read ?? true,
      write: p.write ?? true,
      domainId: p.domainId ?? 0,
    };
    if (fields.valid && fields.translationValid && fields.mode !== 0 && given.length > 0) {
      for (const k of ['root', 'domainId'] as const) {
        if (p[k] === undefined) ctx.issues.push({ code: 'custom', path: [k], input: undefined, message: 'is required for a translating DTE (V, TV, mode > 0)' });
      }
    }
    return { deviceId: p.deviceId, fields };
  });

const dteOut = z.looseObject({
  qwords: z.array(hexOut).length(4).describe('the 256-bit DTE as four qwords'),
  valid: z.boolean(),
  translationValid: z.boolean(),
  mode: z.int(),
  root: hexOut,
  read: z.boolean(),
  write: z.boolean(),
  domainId: z.int(),
});

const walkStep = z.looseObject({ level: z.int().min(1).max(6), entrySpa: hexOut, value: hexOut.describe('the 64-bit entry read') });

/** A logged IOMMU event as iommu.events returns it (and topic iommu's `data`). */
export const eventOut = z.looseObject({
  seq: z.int().min(1).describe('sequence number, from 1; dropped events take none'),
  type: z.int().describe('event type code (docs/hardware.md §4.3), e.g. 2 IO_PAGE_FAULT, 13 RMP_PAGE_FAULT'),
  typeName: z.string(),
  deviceId: z.int(),
  domainId: z.union([z.int(), z.null()]).describe('null for events without a domain field'),
  address: hexOut.describe('IOVA (GPA for RMP_PAGE_FAULT)'),
  write: z.boolean(),
  atNs: z.int().min(0),
  words: z.array(hexWord32Out).length(4).describe('the bit-exact 16-byte entry as four 32-bit words w0..w3'),
});

export const IOMMU_METHODS = {
  'iommu.setDte': method({
    summary: 'Write a device table entry',
    description:
      'Either `qwords` (raw, bit-exact) or decoded fields, not both. Takes effect at once. A valid DTE carries its domain: a domain exists while some valid DTE names it. Returns the DTE as written, as iommu.readDte does.',
    params: setDteParams,
    result: dteOut,
    examples: [
      {
        name: 'decoded fields (iommu-dte.json vector)',
        params: { deviceId: 0x300, root: '0x10000000', mode: 3, domainId: 32 },
        result: { qwords: ['0x6000000010000603', '0x20', '0x0', '0x0'], valid: true, translationValid: true, mode: 3, root: '0x10000000', read: true, write: true, domainId: 32 },
      },
    ],
  }),

  'iommu.readDte': method({
    summary: 'Read and decode a device table entry',
    description: 'An untouched DTE reads as zero (V=0).',
    params: z.strictObject({ deviceId }),
    result: dteOut,
    examples: [
      {
        name: 'device 01:00.0 on the default platform',
        params: { deviceId: 256 },
        result: { qwords: ['0x6000000fc0200603', '0x1', '0x0', '0x0'], valid: true, translationValid: true, mode: 3, root: '0xfc0200000', read: true, write: true, domainId: 1 },
        vary: ['qwords.0', 'root'],
      },
    ],
  }),

  'iommu.walk': method({
    summary: 'Walk the host page tables for an IOVA, as the IOMMU would',
    description:
      "From the device's DTE root, levels by the DTE mode, permissions ANDed along the walk; `write` checks write permission. `spa` is the translation of `iova` (leaf base + offset). A failed walk returns ok false and `fault` (IO_PAGE_FAULT with a reason: dte-invalid, bad-mode, beyond-mode, not-present, bad-next-level, bad-leaf-size, permission). It reads the tables only: no IOTLB fill, no event logged.",
    params: z.strictObject({ deviceId, iova, write: z.boolean().default(false).describe('check write permission (default: read)') }),
    result: z.looseObject({
      ok: z.boolean(),
      spa: z.union([hexOut, z.null()]).describe('translated SPA; null when no leaf was reached'),
      sizeLg2: z.union([z.int(), z.null()]).describe('log2 of the leaf size; null when no leaf was reached'),
      read: z.boolean().describe('IR ANDed along the walk'),
      write: z.boolean().describe('IW ANDed along the walk'),
      steps: z.array(walkStep).describe('every entry read, top level first'),
      fault: z.union([z.looseObject({ type: z.int(), typeName: z.string(), reason: z.string() }), z.null()]),
    }),
    examples: [
      {
        name: 'device 01:00.0, IOVA 0x201000 on the default platform: a 2 MB leaf at level 2',
        params: { deviceId: 256, iova: '0x201000' },
        result: {
          ok: true,
          spa: '0x100201000',
          sizeLg2: 21,
          read: true,
          write: true,
          steps: [
            { level: 3, entrySpa: '0xfc0200000', value: '0x6000000fc0201401' },
            { level: 2, entrySpa: '0xfc0201008', value: '0x6000000100200001' },
          ],
          fault: null,
        },
        vary: ['steps.0.entrySpa', 'steps.0.value', 'steps.1.entrySpa'],
      },
    ],
  }),

  'iommu.command': method({
    summary: 'Execute one 16-byte IOMMU command',
    description:
      'Opcodes 1 COMPLETION_WAIT, 2 INVALIDATE_DEVTAB_ENTRY, 3 INVALIDATE_IOMMU_PAGES, 8 INVALIDATE_IOMMU_ALL act (iommu-commands.json); 4-7 are accepted with no effect; any other opcode logs ILLEGAL_COMMAND_ERROR and returns illegal: true (hardware behaviour, not a JSON-RPC error). `effect` says what the command did.',
    params: z.strictObject({
      qwords: z.array(hex64('0x3000000500000000')).length(2, 'must hold exactly two qwords [q0, q1]').describe('the command as two 64-bit qwords'),
    }),
    result: z.looseObject({
      opcode: z.int(),
      name: z.string().describe('command name, or ILLEGAL'),
      illegal: z.boolean().exactOptional().describe('true when the opcode is not a command (ILLEGAL_COMMAND_ERROR logged)'),
      effect: z.string().exactOptional().describe('what the command did, for people'),
    }),
    examples: [{ name: 'INVALIDATE_IOMMU_ALL', params: { qwords: ['0x8000000000000000', '0x0'] }, result: { opcode: 8, name: 'INVALIDATE_IOMMU_ALL' } }],
  }),

  'iommu.events': method({
    summary: 'Read the event log',
    description:
      'Entries with seq > since, oldest first, at most max (default: the whole ring). consume: true frees what it returned. When the ring is full new events are dropped and overflow is set; a consuming read reports overflow as it was, then clears it.',
    params: z.strictObject({
      since: z.int(err('must be a non-negative integer')).min(0, 'must be >= 0').exactOptional().describe('return entries with seq > since (default 0)'),
      max: intRange(1, 65536).exactOptional().describe('at most this many entries'),
      consume: z.boolean().default(false).describe('free the returned entries'),
    }),
    result: z.looseObject({ events: z.array(eventOut), overflow: z.boolean() }),
    examples: [{ name: 'fresh platform', params: {}, result: { events: [], overflow: false } }],
  }),

  'iommu.map': method({
    summary: "Map an IOVA range in a domain's page table, as a host driver would",
    description:
      'Writes leaves of 2^sizeLg2 bytes (PR | IR/IW as asked, FC when fc) and any table pages needed, raising the DTE mode when the IOVA needs more levels. Does not invalidate. iova, spa and length must be aligned to 2^sizeLg2. Overlapping an existing mapping: -32602.',
    params: z
      .strictObject({
        domainId,
        iova: hex64('0x40000000').describe('IOVA base'),
        spa: hexAddr('0x200000000').describe('SPA base'),
        length: hexLength('0x200000').describe('bytes'),
        sizeLg2,
        read: z.boolean(),
        write: z.boolean(),
        fc: z.boolean().default(false).describe('force coherent'),
      })
      .transform((p, ctx) => {
        const size = 2 ** p.sizeLg2;
        const fix = `; fix: use a multiple of 0x${size.toString(16)} or a smaller sizeLg2`;
        if (p.iova % BigInt(size) !== 0n) ctx.issues.push({ code: 'custom', path: ['iova'], input: p.iova, message: `must be aligned to 2^sizeLg2${fix}` });
        if (p.spa % size !== 0) ctx.issues.push({ code: 'custom', path: ['spa'], input: p.spa, message: `must be aligned to 2^sizeLg2${fix}` });
        if (p.length % size !== 0) ctx.issues.push({ code: 'custom', path: ['length'], input: p.length, message: `must be a multiple of 2^sizeLg2${fix}` });
        return p;
      }),
    result: z.looseObject({ ok: z.literal(true), mode: z.int().exactOptional().describe('the DTE mode after the map') }),
  }),

  'iommu.unmap': method({
    summary: 'Unmap an IOVA range, as iommupt does',
    description: 'Starting inside a leaf is -32602; ending inside one removes the whole leaf. Does not invalidate. Returns the bytes actually unmapped.',
    params: z.strictObject({ domainId, iova: iova4k, length: hexLength('0x200000', PAGE_4K).describe('bytes, a multiple of 4 KB') }),
    result: z.looseObject({ ok: z.literal(true), unmapped: hexOut.describe('bytes unmapped (may exceed length: whole leaves)') }),
  }),

  'iommu.iotlb': method({
    summary: 'List cached translations',
    description: 'Every IOTLB entry (stale ones too), optionally of one domain. emu.audit reports the stale ones.',
    params: z.strictObject({ domainId: domainId.exactOptional() }),
    result: z.looseObject({
      entries: z.array(
        z.looseObject({
          domainId: z.int(),
          iova: hexOut.describe('the cached 4 KB IOVA page'),
          spa: hexOut.describe('the SPA of that page'),
          sizeLg2: z.int().describe('log2 of the leaf the translation came from'),
          read: z.boolean(),
          write: z.boolean(),
        }),
      ),
    }),
    examples: [{ name: 'fresh default platform: nothing cached', params: {}, result: { entries: [] } }],
  }),
} as const;
