/**
 * The TMPM ring (docs/hardware.md §2.4): 256 16-byte entries per 4 KB page, each
 * {u64 list_paddr; u32 cmd_reg (7:0 command, 27:16 number of pages); u32
 * status_reg (7:0 status, written by the engine)}. Qword 1 holds cmd_reg in bits
 * 31:0 and status_reg in bits 63:32 (little-endian).
 */
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
