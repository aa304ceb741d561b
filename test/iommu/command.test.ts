import { describe, expect, it } from 'vitest';
import { loadVectors } from '../helpers/vectors.js';
import { toHex } from '../../src/util/hex.js';
import { decodeCommand, encodeCompletionWait, encodeInvalidateAll, encodeInvalidateDevtabEntry, encodeInvalidateDomain, encodeInvalidatePages, encodeInvalidatePagesRange } from '../../src/iommu/command.js';

interface CommandVector {
  name: string;
  qwords: [string, string];
  decoded: Record<string, unknown> & { opcode: number };
}

/** Numbers and bigints that the vectors write as hex strings. */
function hexFields(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj };
  for (const k of keys) {
    const v = out[k];
    if (typeof v === 'number' || typeof v === 'bigint') out[k] = toHex(v);
  }
  return out;
}

describe('IOMMU commands (command.ts)', () => {
  const { vectors } = loadVectors<CommandVector>('iommu-commands');

  it.each(vectors.map((v) => [v.name, v] as const))('decodes "%s" as the vector', (_name, v) => {
    const d = decodeCommand(BigInt(v.qwords[0]), BigInt(v.qwords[1])) as unknown as Record<string, unknown>;
    const shown = hexFields(d, ['base', 'storeAddress', 'storeData']);
    expect(shown).toMatchObject(v.decoded);
  });

  it('encodes each vector the way Linux builds it', () => {
    const enc: Record<string, [bigint, bigint]> = {
      'INVALIDATE_IOMMU_PAGES domain 5, 2M at 0x40000000, S=1, PDE=1': encodeInvalidatePages(5, 0x40000000n, 21),
      'INVALIDATE_IOMMU_PAGES domain 5, 16K at 0x40000000': encodeInvalidatePages(5, 0x40000000n, 14),
      'INVALIDATE_IOMMU_PAGES domain 5, one 4K page at 0x40001000, S=0': encodeInvalidatePages(5, 0x40001000n, 12),
      'INVALIDATE_IOMMU_PAGES domain 5, whole domain': encodeInvalidateDomain(5),
      'COMPLETION_WAIT, store 0x1 to 0x1000': encodeCompletionWait(0x1000, 1n),
      INVALIDATE_IOMMU_ALL: encodeInvalidateAll(),
      'INVALIDATE_DEVTAB_ENTRY device 0x0100': encodeInvalidateDevtabEntry(0x100),
    };
    for (const v of vectors) {
      const q = enc[v.name];
      expect(q, v.name).toBeDefined();
      expect(
        (q as [bigint, bigint]).map((x) => toHex(x)),
        v.name,
      ).toEqual(v.qwords);
    }
  });

  it('over-invalidates an unaligned range like build_inv_address', () => {
    // 0x3000..0x5fff: highest differing bit 14, so 32 KB at 0x0.
    const [, q1] = encodeInvalidatePagesRange(1, 0x3000n, 0x3000n);
    const d = decodeCommand(...encodeInvalidatePagesRange(1, 0x3000n, 0x3000n));
    expect(q1 & 1n).toBe(1n);
    expect(d).toMatchObject({ name: 'INVALIDATE_IOMMU_PAGES', base: 0n, sizeLg2: 15, wholeDomain: false });
  });

  it('decodes opcodes 0x4-0x7 as accepted and others as illegal', () => {
    expect(decodeCommand(0x4000000000000000n, 0n)).toMatchObject({ opcode: 4, noEffect: true });
    expect(decodeCommand(0x7000000000000000n, 0n)).toMatchObject({ opcode: 7, name: 'COMPLETE_PPR_REQUEST', noEffect: true });
    expect(decodeCommand(0x0n, 0n)).toEqual({ opcode: 0, name: 'ILLEGAL', illegal: true });
    expect(decodeCommand(0xf000000000000000n, 0n)).toEqual({ opcode: 15, name: 'ILLEGAL', illegal: true });
  });
});
