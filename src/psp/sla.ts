/**
 * SEV-TIO buffers in memory (docs/sev-firmware.md §2.5): the scatter-list address
 * (SLA), the 64-byte buffer header at the start of every SLA buffer, and the data
 * objects after it. Resolving an SLA to its pages and reading or writing a buffer
 * across them happen here too.
 */
import type { HostMemory } from '../memory/host-memory.js';
import { readBytes, writeBytes } from './bytes.js';
import { field, layout } from './layout.js';

// ---- SLA (sla_addr_t, u64) ---------------------------------------------------------
/** bit 0 page_type: 0 DATA, 1 SCATTER. */
export const SLA_PAGE_TYPE_SCATTER = 1n;
/** bit 1 page_size: 0 4 KB, 1 2 MB (Linux always uses 4 KB). */
export const SLA_PAGE_SIZE_2M = 2n;
const SLA_PFN_SHIFT = 12n;
const SLA_PFN_MASK = (1n << 40n) - 1n;
/** bits 11:2 and 63:52 reserved. */
const SLA_RESERVED = (0x3ffn << 2n) | (0xfffn << 52n);
export const SLA_NULL = 0n;
/** pfn all-ones, every other bit 0. */
export const SLA_EOL = SLA_PFN_MASK << SLA_PFN_SHIFT;
/** A SCATTER page holds 512 SLAs (DATA entries only), ended by SLA_EOL. */
export const SCATTER_ENTRIES = 512;

export interface Sla {
  scatter: boolean;
  size2m: boolean;
  /** bits 51:12 as written (the C-bit included, as Linux sets it). */
  pfn: bigint;
  reserved: bigint;
}

export function decodeSla(v: bigint): Sla {
  return { scatter: (v & SLA_PAGE_TYPE_SCATTER) !== 0n, size2m: (v & SLA_PAGE_SIZE_2M) !== 0n, pfn: (v >> SLA_PFN_SHIFT) & SLA_PFN_MASK, reserved: v & SLA_RESERVED };
}

export function encodeSla(spa: bigint, scatter = false): bigint {
  return (((spa >> SLA_PFN_SHIFT) & SLA_PFN_MASK) << SLA_PFN_SHIFT) | (scatter ? SLA_PAGE_TYPE_SCATTER : 0n);
}

// ---- buffer header and data objects --------------------------------------------------

/** `sla_buffer_hdr`, 0x40 B at offset 0 of every SLA buffer. */
export const SLA_BUFFER_HDR = layout('sla_buffer_hdr', 0x40, { capacitySz: field(0, 4), payloadSz: field(4, 4), flags: field(8, 4) });
/** SLA_BUFFER_HDR.flags bit 0: ENCRYPTION. */
export const SLA_BUFFER_ENCRYPTION = 1;
/** `spdm_dobj_hdr`, 10 B, at 0x40. */
export const DOBJ_HDR = layout('spdm_dobj_hdr', 10, { id: field(0, 4), length: field(4, 4), versionMinor: field(8, 1), versionMajor: field(9, 1) });
/** REQ / RESP headers, 16 B: the dobj header, data_type at 10, 5 reserved. */
export const DOBJ_REQ_RESP_HDR = layout('spdm_dobj_hdr_req/resp', 16, { id: field(0, 4), length: field(4, 4), versionMinor: field(8, 1), versionMajor: field(9, 1), dataType: field(10, 1) });
/** CERTIFICATE / MEASUREMENT / REPORT headers, 32 B. */
export const DOBJ_CERT_HDR = layout('spdm_dobj_hdr_cert', 32, {
  id: field(0, 4),
  length: field(4, 4),
  versionMinor: field(8, 1),
  versionMajor: field(9, 1),
  deviceId: field(16, 2),
  segmentId: field(18, 1),
  type: field(19, 1),
});

export const DOBJ_ID = { NONE: 0, REQ: 1, RESP: 2, CERTIFICATE: 4, MEASUREMENT: 5, REPORT: 6 } as const;
/** REQ/RESP data_type: plain SPDM (DOE feature CMA) or secured SPDM (SSESSION). */
export const DOBJ_DATA_TYPE = { SPDM: 1, SECURE_SPDM: 2 } as const;
/** The data objects start right after the buffer header. */
export const DOBJ_OFFSET = SLA_BUFFER_HDR.bytes;
/** Linux pads a RESP object's length to a multiple of this. */
export const RESP_ALIGN = 32;

// ---- an SLA buffer in memory -------------------------------------------------------------

export const PAGE = 4096;

/** Why an SLA cannot be used, or its DATA pages (SPAs, C-bit stripped) and its SCATTER page. */
export type SlaPages = { ok: true; pages: number[]; scatterSpa: number | null } | { ok: false; why: string; spa?: number };

/**
 * The DATA pages of the buffer an SLA names. `strip` removes the C-bit from an
 * address; an address outside memory, a 2 MB page, a reserved bit, a nested SCATTER
 * entry or a list with no EOL is refused.
 */
export function slaPages(memory: HostMemory, sla: bigint, strip: (v: bigint) => number): SlaPages {
  if (sla === SLA_NULL) return { ok: false, why: 'the SLA is null' };
  const s = decodeSla(sla);
  if (s.reserved !== 0n) return { ok: false, why: `reserved bits are set in SLA 0x${sla.toString(16)}` };
  if (s.size2m) return { ok: false, why: 'a 2 MB SLA page is not supported (Linux uses 4 KB)' };
  const spa = strip(s.pfn << SLA_PFN_SHIFT);
  if (!memory.contains(spa, PAGE)) return { ok: false, why: `the SLA page 0x${spa.toString(16)} is outside memory`, spa };
  if (!s.scatter) return { ok: true, pages: [spa], scatterSpa: null };
  const pages: number[] = [];
  for (let i = 0; i < SCATTER_ENTRIES; i++) {
    const e = memory.word(spa + i * 8);
    if (e === SLA_EOL) return pages.length === 0 ? { ok: false, why: 'the SCATTER page lists no DATA page', spa } : { ok: true, pages, scatterSpa: spa };
    const d = decodeSla(e);
    if (d.scatter || d.size2m || d.reserved !== 0n || e === SLA_NULL) return { ok: false, why: `SCATTER entry ${i} (0x${e.toString(16)}) is not a 4 KB DATA SLA`, spa };
    const p = strip(d.pfn << SLA_PFN_SHIFT);
    if (!memory.contains(p, PAGE)) return { ok: false, why: `SCATTER entry ${i}: page 0x${p.toString(16)} is outside memory`, spa: p };
    pages.push(p);
  }
  return { ok: false, why: 'the SCATTER page has no SLA_EOL in its 512 entries', spa };
}

/** `length` bytes at byte `offset` of a buffer made of `pages`. */
export function readBuffer(memory: HostMemory, pages: readonly number[], offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const at = offset + done;
    const page = pages[Math.floor(at / PAGE)];
    if (page === undefined) break;
    const n = Math.min(length - done, PAGE - (at % PAGE));
    out.set(readBytes(memory, page + (at % PAGE), n), done);
    done += n;
  }
  return out;
}

/** Writes `bytes` at byte `offset` of a buffer made of `pages` (the caller checked it fits). */
export function writeBuffer(memory: HostMemory, pages: readonly number[], offset: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    const at = offset + done;
    const page = pages[Math.floor(at / PAGE)];
    if (page === undefined) return;
    const n = Math.min(bytes.length - done, PAGE - (at % PAGE));
    writeBytes(memory, page + (at % PAGE), bytes.subarray(done, done + n));
    done += n;
  }
}
