/**
 * The few AMD IOMMU v1 encodings a VMM writes by hand in these examples
 * (docs/hardware.md §3.1 and §3.5; vectors in test/vectors). A client cannot import
 * the emulator's codecs, so the bits are spelled out here, once.
 */

/** PTE bits 51:12: the next-table or page address. */
export const PTE_ADDR_MASK = 0x000f_ffff_ffff_f000n;
const PTE_PR = 1n;
const PTE_IR = 1n << 61n;
const PTE_IW = 1n << 62n;

/** A table pointer: PR | NextLevel << 9 | table SPA | IR | IW (how Linux writes PDEs). */
export function tablePointer(tableSpa: bigint, nextLevel = 1): bigint {
  return PTE_PR | (BigInt(nextLevel) << 9n) | (tableSpa & PTE_ADDR_MASK) | PTE_IR | PTE_IW;
}

/** Bits 63:52 of an entry (IR 61, IW 62, FC 60, ...): the PTEs of a smash copy them. */
const PTE_HIGH_BITS = 0xfffn << 52n;

/**
 * The 512 PTEs PSMASH_IO expects in its table, filled as AMD's driver fills them
 * ("as the TMPM spec requires", hardware.md §2.4): PTE i has low 12 bits 0x001 (PR,
 * NextLevel 0), the old 2 MB entry's address + i x 4 KB, and its bits 63:52.
 */
export function smashTablePtes(iopde: bigint): bigint[] {
  const base = iopde & PTE_ADDR_MASK;
  return Array.from({ length: 512 }, (_, i) => (iopde & PTE_HIGH_BITS) | ((base + BigInt(i) * 0x1000n) & PTE_ADDR_MASK) | PTE_PR);
}

/**
 * INVALIDATE_IOMMU_PAGES (opcode 0x3) for 2^sizeLg2 bytes at `iova` in a domain,
 * with PDE = 1 (drop cached directory entries too). qword0: opcode 63:60, DomainID
 * 47:32. qword1: address 63:12 with the bits below the size set (S = 1), PDE bit 1.
 */
export function invalidateIommuPages(domainId: number, iova: bigint, sizeLg2: number): [bigint, bigint] {
  const q0 = (0x3n << 60n) | (BigInt(domainId & 0xffff) << 32n);
  if (sizeLg2 === 12) return [q0, (iova & ~0xfffn) | 0b10n];
  const address = (iova | ((1n << BigInt(sizeLg2 - 1)) - 1n)) & ~0xfffn;
  return [q0, address | 0b11n];
}
