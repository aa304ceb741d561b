import { describe, expect, it } from 'vitest';
import { loadVectors } from '../helpers/vectors.js';
import { toHex } from '../../src/util/hex.js';
import { decodeDte, encodeDte } from '../../src/iommu/dte.js';

interface DteVector {
  name: string;
  qwords: string[];
  decoded: { valid: boolean; translationValid: boolean; mode: number; root: string; read: boolean; write: boolean; domainId: number };
}

describe('DTE layout (dte.ts)', () => {
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
