import { describe, expect, it } from 'vitest';
import { loadVectors } from '../helpers/vectors.js';
import { toHex } from '../../src/util/hex.js';
import { decodePte, encodeLeaf, encodeTablePointer, leafSizeAllowed, levelDefaultSizeLg2, levelIndex, levelIndexPfn, stripCBit } from '../../src/iommu/pte.js';

interface PteVector {
  name: string;
  level: number;
  value: string;
  decoded: { present: boolean; nextLevel: number; read: boolean; write: boolean; fc: boolean; leaf: boolean; sizeLg2?: number; pa?: string; table?: string };
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

describe('PTE layout (pte.ts)', () => {
  const { vectors } = loadVectors<PteVector>('iommu-pte');

  it.each(vectors.map((v) => [v.name, v] as const))('decodes "%s" exactly as the vector', (_name, v) => {
    const d = decodePte(BigInt(v.value), v.level);
    expect(hexFields({ ...d }, ['pa', 'table'])).toEqual(v.decoded);
  });

  it.each(vectors.filter((v) => v.decoded.present).map((v) => [v.name, v] as const))('encodes "%s" back to the same value', (_name, v) => {
    const d = v.decoded;
    const value = d.leaf
      ? encodeLeaf({ pa: Number(BigInt(d.pa as string)), sizeLg2: d.sizeLg2 as number, level: v.level, read: d.read, write: d.write, fc: d.fc })
      : encodeTablePointer(Number(BigInt(d.table as string)), d.nextLevel);
    expect(toHex(value)).toBe(v.value);
  });

  it('decodes NL=7 sizes from 8 KB to 4 GB per the AMD table 14 examples', () => {
    for (let sizeLg2 = 13; sizeLg2 <= 32; sizeLg2++) {
      const level = sizeLg2 <= 20 ? 1 : sizeLg2 <= 29 ? 2 : 3;
      const pa = 2 ** 33;
      const value = encodeLeaf({ pa, sizeLg2, level, read: true, write: false, fc: false });
      expect((value >> 9n) & 7n).toBe(sizeLg2 === levelDefaultSizeLg2(level) ? 0n : 7n);
      const d = decodePte(value, level);
      expect(d.sizeLg2).toBe(sizeLg2);
      expect(d.pa).toBe(pa);
    }
    // 4 GB: address bits 31:12 = 0x7FFFF.
    const fourG = encodeLeaf({ pa: 0, sizeLg2: 32, level: 3, read: false, write: false, fc: false });
    expect((fourG >> 12n) & 0xfffffn).toBe(0x7ffffn);
  });

  it('refuses leaf sizes the level does not allow', () => {
    expect(() => encodeLeaf({ pa: 0, sizeLg2: 21, level: 1, read: true, write: true, fc: false })).toThrow(/level-1 leaf/);
    expect(() => encodeLeaf({ pa: 0, sizeLg2: 39, level: 4, read: true, write: true, fc: false })).toThrow();
    expect(() => encodeLeaf({ pa: 0, sizeLg2: 57, level: 6, read: true, write: true, fc: false })).toThrow();
    expect(() => encodeLeaf({ pa: 0x1000, sizeLg2: 21, level: 2, read: true, write: true, fc: false })).toThrow(/aligned/);
    expect(leafSizeAllowed(4, 40)).toBe(true);
    expect(leafSizeAllowed(5, 51)).toBe(true);
    expect(leafSizeAllowed(5, 52)).toBe(false);
  });

  it('indexes each level, level 6 with bits 63:57 only', () => {
    const iova = 0xfedc_ba98_7654_3000n;
    for (let level = 1; level <= 5; level++) {
      const expected = Number((iova >> BigInt(12 + 9 * (level - 1))) & 0x1ffn);
      expect(levelIndex(iova, level)).toBe(expected);
      expect(levelIndexPfn(Number(iova >> 12n), level)).toBe(expected);
    }
    expect(levelIndex(iova, 6)).toBe(Number(iova >> 57n));
  });

  it('strips the configured C-bit from table and leaf addresses', () => {
    const cbit = 1n << 51n;
    const d = decodePte(0x6000000040000001n | cbit, 2, 51);
    expect(d.pa).toBe(0x40000000);
    expect(decodePte(0x6000000040000001n | cbit, 2, null).pa).toBe(0x40000000 + 2 ** 51);
    expect(decodePte(0x6000000012345201n | cbit, 2, 51).table).toBe(0x12345000);
    expect(stripCBit(0x10000000 + 2 ** 51, 51)).toBe(0x10000000);
    expect(stripCBit(0x10000000, 51)).toBe(0x10000000);
    expect(stripCBit(0x10000000 + 2 ** 51, null)).toBe(0x10000000 + 2 ** 51);
  });
});
