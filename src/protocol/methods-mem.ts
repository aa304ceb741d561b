/**
 * mem.* (the host's physical view, like a debugger: it bypasses the RMP), rmp.*
 * (host RMP instructions, docs/hardware.md §1.4-1.5) and guest.pvalidate (§1.6).
 * Instruction inputs are not alignment-checked here: a misaligned SPA is the
 * instruction's own FAIL_INPUT, a returned value.
 */
import * as z from 'zod';
import { method, rcFields, rcResult } from './method-spec.js';
import { PAGE_4K, asid, hex64, hexAddr, hexOut, okResult, pageSize, positiveInt } from './wire.js';

/** 1 GiB (262,144 x 4 KB) of zeroed pages per call; callers needing more call again. */
export const MAX_ALLOC_PAGES = 262_144;
/** 512 KiB per read or write: large enough for a page table run, small enough for one frame. */
export const MAX_WORDS = 65_536;

const spa8 = hexAddr('0x100000000', 8).describe('SPA, 8-byte aligned');

/** An RMP entry as rmp.read returns it (and topic rmp's `entry`). */
export const rmpEntryOut = z.looseObject({
  entrySpa: hexOut.describe('SPA of the authoritative entry (2 MB base for a 2 MB entry)'),
  assigned: z.boolean(),
  pageSize: z.enum(['4K', '2M']),
  immutable: z.boolean(),
  validated: z.boolean(),
  vmsa: z.boolean(),
  asid: z.int(),
  gpa: hexOut,
  raw: hexOut.describe('raw low qword (docs/hardware.md §1.2)'),
});

export const MEM_METHODS = {
  'mem.alloc': method({
    summary: 'Allocate zeroed contiguous 4 KB pages from the page pool',
    description: 'For page tables, smash tables and buffers. Pool exhausted: -32004. The pages stay hypervisor-owned in the RMP.',
    params: z.strictObject({ pages: positiveInt(MAX_ALLOC_PAGES, 'number of 4 KB pages') }),
    result: z.looseObject({ spa: hexOut.describe('SPA of the first page, 4 KB aligned'), pages: z.int().exactOptional() }),
    examples: [{ name: 'one page', params: { pages: 1 }, result: { spa: '0xfc0227000' }, vary: ['spa'] }],
  }),

  'mem.free': method({
    summary: 'Return pages to the page pool',
    description: 'Must name a whole allocation made by mem.alloc (its spa and its page count). An spa that starts no allocation: -32001; a different page count: -32602.',
    params: z.strictObject({
      spa: hexAddr('0x7ffff000', PAGE_4K).describe('SPA returned by mem.alloc'),
      pages: positiveInt(MAX_ALLOC_PAGES, 'number of 4 KB pages'),
    }),
    result: okResult,
  }),

  'mem.read64': method({
    summary: 'Read 64-bit words of host physical memory',
    description: 'Untouched memory reads as zero. Bypasses the RMP. Past the end of memory: -32602.',
    params: z.strictObject({ spa: spa8, count: positiveInt(MAX_WORDS, 'number of 64-bit words') }),
    result: z.looseObject({ values: z.array(hexOut).describe('one hex string per word') }),
    examples: [{ name: 'untouched guest memory reads as zero', params: { spa: '0x100000000', count: 2 }, result: { values: ['0x0', '0x0'] } }],
  }),

  'mem.write64': method({
    summary: 'Write 64-bit words of host physical memory',
    description: 'Bypasses the RMP and the IOTLB: writing a page-table entry does not invalidate cached translations (send iommu.command).',
    params: z.strictObject({
      spa: spa8,
      values: z.array(hex64()).min(1, 'must hold at least one value').max(MAX_WORDS, `must hold at most ${MAX_WORDS} values`).describe('64-bit words, hex'),
    }),
    result: z.looseObject({ ok: z.literal(true), count: z.int().exactOptional() }),
  }),

  'rmp.read': method({
    summary: 'The authoritative RMP entry for a page',
    description: 'For a page inside a 2 MB entry this is the 2 MB entry itself (docs/hardware.md §1.3): entrySpa is the 2 MB base and gpa its 2 MB GPA. `raw` is the low qword in the raw entry format (rmp-raw.json).',
    params: z.strictObject({ spa: hexAddr('0x100001000').describe('any SPA in the page') }),
    result: rmpEntryOut,
    examples: [
      {
        name: 'a default guest page: inside the 2 MB entry at SPA 0x100000000',
        params: { spa: '0x100001000' },
        result: { entrySpa: '0x100000000', assigned: true, pageSize: '2M', immutable: false, validated: true, vmsa: false, asid: 1, gpa: '0x0', raw: '0x4008000000000003' },
      },
    ],
  }),

  'rmp.update': method({
    summary: 'RMPUPDATE',
    description:
      'Sets an RMP entry (docs/hardware.md §1.5). asid, gpa and immutable are ignored when not assigned. Returns rc: 1 misaligned, 4 overlap (4 KB inside an assigned 2 MB entry, or 2 MB over an assigned 4 KB entry), 2 immutable. Clears Validated and VMSA.',
    params: z.strictObject({
      spa: hexAddr('0x200000000').describe('4 KB aligned, or 2 MB aligned for pageSize "2M"'),
      assigned: z.boolean().describe('true: private to asid (or firmware when asid is 0); false: hypervisor'),
      pageSize,
      asid: asid.default(0),
      gpa: hexAddr('0x0').prefault('0x0').describe('guest physical address the page is mapped at'),
      immutable: z.boolean().default(false),
    }),
    result: rcResult,
  }),

  'rmp.psmash': method({
    summary: 'PSMASH: split a 2 MB RMP entry into 512 4 KB entries',
    description: 'rc 1 for a misaligned SPA, 7 (FAIL_BADADDR) for an unassigned or already-4 KB entry (docs/hardware.md §1.4).',
    params: z.strictObject({ spa: hexAddr('0x100000000').describe('2 MB aligned SPA') }),
    result: rcResult,
  }),

  'guest.pvalidate': method({
    summary: 'PVALIDATE, executed as the guest with this ASID',
    description:
      'Checks ASID and GPA first, then sizes. 2 MB over 4 KB entries: rc 6; 4 KB over a 2 MB entry: {npf: {errorCode: "0x880000000"}}; a page not assigned to that ASID/GPA or a GPA outside the guest: {npf: {errorCode: "0x80000000"}}; no change: {rc: 0, noUpdate: true}.',
    params: z.strictObject({
      asid: asid.describe('the guest executing PVALIDATE'),
      gpa: hexAddr('0x0').describe('guest physical address'),
      pageSize,
      validate: z.boolean().describe('true: validate; false: rescind'),
    }),
    // Plain (not loose) objects, so a typed client narrows with `'npf' in r`.
    result: z.union([
      z.object({ ...rcFields, noUpdate: z.boolean().exactOptional().describe('Validated did not change (CF=1)') }),
      z.object({ npf: z.object({ errorCode: hexOut.describe('#NPF error code: RMP bit 31, SIZEM bit 35') }) }),
    ]),
  }),
} as const;
