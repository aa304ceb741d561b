import { describe, expect, it } from 'vitest';
import { loadVectors } from '../helpers/vectors.js';
import { toHex, toHex32 } from '../../src/util/hex.js';
import {
  decodePte,
  encodeLeaf,
  encodeTablePointer,
  leafSizeAllowed,
  levelDefaultSizeLg2,
  levelIndex,
  levelIndexPfn,
  stripCBit,
} from '../../src/iommu/pte.js';
import { decodeDte, encodeDte } from '../../src/iommu/dte.js';
import {
  decodeCommand,
  encodeCompletionWait,
  encodeInvalidateAll,
  encodeInvalidateDevtabEntry,
  encodeInvalidateDomain,
  encodeInvalidatePages,
  encodeInvalidatePagesRange,
} from '../../src/iommu/command.js';
import { decodeEvent, encodeEvent, EVENT_TYPE, eventTypeName } from '../../src/iommu/event-log.js';

interface PteVector {
  name: string;
  level: number;
  value: string;
  decoded: { present: boolean; nextLevel: number; read: boolean; write: boolean; fc: boolean; leaf: boolean; sizeLg2?: number; pa?: string; table?: string };
}
interface DteVector {
  name: string;
  qwords: string[];
  decoded: { valid: boolean; translationValid: boolean; mode: number; root: string; read: boolean; write: boolean; domainId: number };
}
interface CommandVector {
  name: string;
  qwords: [string, string];
  decoded: Record<string, unknown> & { opcode: number };
}
interface EventVector {
  name: string;
  words: [string, string, string, string];
  decoded: Record<string, unknown> & { type: number; address: string };
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

describe('pte.ts', () => {
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
      expect(value >> 9n & 7n).toBe(sizeLg2 === levelDefaultSizeLg2(level) ? 0n : 7n);
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

describe('dte.ts', () => {
  const { vectors } = loadVectors<DteVector>('iommu-dte');

  it.each(vectors.map((v) => [v.name, v] as const))('decodes and encodes "%s"', (_name, v) => {
    const qwords = v.qwords.map((q) => BigInt(q));
    const d = decodeDte(qwords);
    const picked = { valid: d.valid, translationValid: d.translationValid, mode: d.mode, root: toHex(d.root), read: d.read, write: d.write, domainId: d.domainId };
    expect(picked).toEqual(v.decoded);
    const enc = encodeDte({ ...d });
    expect(enc.slice(0, v.qwords.length).map((q) => toHex(q))).toEqual(v.qwords);
    expect(enc).toHaveLength(4);
  });

  it('round-trips every other field and leaves unset fields 0', () => {
    const fields = { valid: true, translationValid: false, had: 3, mode: 6, root: 0xabcde000, ppr: true, giov: true, gv: false, glx: 2, read: false, write: true, domainId: 0xffff, iotlbEnable: true };
    expect(decodeDte(encodeDte(fields))).toEqual(fields);
    expect(encodeDte({})).toEqual([0n, 0n, 0n, 0n]);
    expect(() => encodeDte({ mode: 8 })).toThrow(/mode/);
    expect(() => encodeDte({ root: 0x1001 })).toThrow(/root/);
  });
});

describe('command.ts', () => {
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
      expect((q as [bigint, bigint]).map((x) => toHex(x)), v.name).toEqual(v.qwords);
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

describe('event-log.ts codec', () => {
  const { vectors } = loadVectors<EventVector>('iommu-events');

  it.each(vectors.map((v) => [v.name, v] as const))('decodes "%s" bit-exactly', (_name, v) => {
    const d = decodeEvent(v.words.map((w) => Number(BigInt(w))));
    expect(hexFields({ ...d }, ['address'])).toMatchObject(v.decoded);
  });

  it.each(vectors.map((v) => [v.name, v] as const))('encodes "%s" bit-exactly', (_name, v) => {
    const d = v.decoded as Record<string, unknown>;
    const words = encodeEvent({
      type: v.decoded.type,
      deviceId: d.deviceId as number,
      domainId: (d.domainId as number | undefined) ?? 0,
      address: BigInt(v.decoded.address),
      write: d.write as boolean,
      present: d.present === true,
      permission: d.permission === true,
      ...(d.rmpFlags !== undefined ? { rmpFlags: d.rmpFlags as number } : {}),
      ...(d.vmgTag !== undefined ? { vmgTag: d.vmgTag as number } : {}),
    });
    expect(words.map(toHex32)).toEqual(v.words);
  });

  it('names every event type of hardware.md §4.3', () => {
    expect(Object.keys(EVENT_TYPE)).toHaveLength(13);
    expect(eventTypeName(0xd)).toBe('RMP_PAGE_FAULT');
    expect(eventTypeName(0xa)).toBe('RESERVED_0xa');
  });

  it('carries a 20-bit domain ID across w0[19:16] and w1[15:0]', () => {
    const words = encodeEvent({ type: 2, deviceId: 1, domainId: 0xabcde, address: 0n, write: false });
    expect(words[0]).toBe(0x000a0001);
    expect(words[1] & 0xffff).toBe(0xbcde);
    expect(decodeEvent(words).domainId).toBe(0xabcde);
  });
});
