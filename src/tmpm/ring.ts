/**
 * The TMPM ring (docs/hardware.md §2.4): 256 16-byte entries per 4 KB page, each
 * {u64 list_paddr; u32 cmd_reg (7:0 command, 27:16 number of pages); u32
 * status_reg (7:0 status, written by the engine)}. Qword 1 holds cmd_reg in bits
 * 31:0 and status_reg in bits 63:32 (little-endian). And INIT's checks on where the
 * ring is.
 */
import type { HostMemory } from '../memory/host-memory.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import type { RmpTable } from '../rmp/rmp-table.js';
import { toHex } from '../util/hex.js';
import { MAX_RING_PAGES } from './registers.js';

export const RING_ENTRY_BYTES = 16;
export const RING_ENTRIES_PER_PAGE = 256;

const CMD_MASK = 0xffn;
const PAGES_SHIFT = 16n;
const PAGES_MASK = 0xfffn;
const STATUS_SHIFT = 32n;
const STATUS_MASK = 0xffn;

export interface RingEntry {
  listPaddr: bigint;
  command: number;
  pages: number;
  status: number;
}

export function encodeRingEntry(e: RingEntry): [bigint, bigint] {
  const cmdReg = (BigInt(e.command) & CMD_MASK) | ((BigInt(e.pages) & PAGES_MASK) << PAGES_SHIFT);
  return [BigInt.asUintN(64, e.listPaddr), cmdReg | ((BigInt(e.status) & STATUS_MASK) << STATUS_SHIFT)];
}

export function decodeRingEntry(q0: bigint, q1: bigint): RingEntry {
  return {
    listPaddr: q0,
    command: Number(q1 & CMD_MASK),
    pages: Number((q1 >> PAGES_SHIFT) & PAGES_MASK),
    status: Number((q1 >> STATUS_SHIFT) & STATUS_MASK),
  };
}

/** Qword 1 after the engine wrote `status`: cmd_reg kept, status_reg = status, other bits 0. */
export function withRingStatus(q1: bigint, status: number): bigint {
  return (q1 & 0xffff_ffffn) | ((BigInt(status) & STATUS_MASK) << STATUS_SHIFT);
}

/** Free slots as Linux's CIRC_SPACE(head, tail, size) counts them (one slot is never used). */
export function circSpace(head: number, tail: number, size: number): number {
  return (tail - (head + 1) + size) % size;
}

/**
 * INIT's checks on the ring of `pages` pages at `baseSpa` (C-bit stripped),
 * protocol/README.md §4.3.2: the reason it is refused, or null. `snpRmp` is the RMP
 * when SNP is initialised (then the ring must be 2 MB aligned and Hypervisor-Fixed).
 */
export function ringRefusal(baseSpa: number, pages: number, memory: HostMemory, snpRmp: RmpTable | null): string | null {
  if (pages < 1 || pages > MAX_RING_PAGES) return `CDATA gives ${pages} ring pages; 1-${MAX_RING_PAGES} are allowed`;
  if (baseSpa % PAGE_BYTES !== 0) return `the ring base ${toHex(baseSpa)} is not 4 KB aligned`;
  if (!memory.contains(baseSpa, pages * PAGE_BYTES)) return `the ring ${toHex(baseSpa)} + ${pages} pages is outside memory`;
  if (snpRmp !== null) {
    if (baseSpa % (2 * 1024 * 1024) !== 0) return `under SNP the ring must be 2 MB aligned; ${toHex(baseSpa)} is not`;
    const e = snpRmp.read(baseSpa);
    if (e.assigned || !e.immutable) return `under SNP the ring's first page must be Hypervisor-Fixed in the RMP (Assigned 0, Immutable 1); it is Assigned ${e.assigned ? 1 : 0}, Immutable ${e.immutable ? 1 : 0}`;
  }
  return null;
}
