/**
 * The firmware's byte helpers (src/psp/bytes.ts) against DataView and a byte-wise
 * model of memory: any alignment, any length, the partly covered words keep their
 * other bytes, fields read and write little-endian as DataView does.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { HostMemory } from '../../src/memory/host-memory.js';
import { put16, put32, put64, readBytes, u16, u32, u64, writeBytes, bytesToHex, hexToBytes } from '../../src/psp/bytes.js';

const BASE = 0x10_0000;

describe('psp byte helpers', () => {
  it('readBytes and writeBytes match a byte-wise model at any alignment and length', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 0, max: 15 }),
        fc.uint8Array({ minLength: 0, maxLength: 30 }),
        fc.integer({ min: 0, max: 40 }),
        (words, off, bytes, readLen) => {
          const m = new HostMemory(2 ** 30);
          const model = new DataView(new ArrayBuffer(48));
          words.forEach((w, i) => {
            m.write64(BASE + i * 8, w);
            model.setBigUint64(i * 8, w, true);
          });
          writeBytes(m, BASE + off, bytes);
          new Uint8Array(model.buffer).set(bytes, off);
          for (let i = 0; i < 6; i++) expect(m.word(BASE + i * 8)).toBe(model.getBigUint64(i * 8, true));
          const from = off % 8;
          const len = Math.min(readLen, 48 - from);
          expect([...readBytes(m, BASE + from, len)]).toEqual([...new Uint8Array(model.buffer, from, len)]);
        },
      ),
      { numRuns: runs(500) },
    );
  });

  it('field reads and writes are DataView little-endian, out of bounds a RangeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 8 }), fc.double(), fc.bigInt(), (raw, off, n, big) => {
        const b = raw.subarray(0, 16);
        const dv = new DataView(b.buffer, b.byteOffset, 16);
        expect(u16(b, off)).toBe(dv.getUint16(off, true));
        expect(u32(b, off)).toBe(dv.getUint32(off, true));
        expect(u64(b, off)).toBe(dv.getBigUint64(off, true));
        const want = new Uint8Array(b);
        const wv = new DataView(want.buffer);
        put16(b, off, n);
        wv.setUint16(off, n, true);
        put32(b, off + 2, n);
        wv.setUint32(off + 2, n >>> 0, true);
        put64(b, off, big);
        wv.setBigUint64(off, BigInt.asUintN(64, big), true);
        expect([...b]).toEqual([...want]);
      }),
      { numRuns: runs(500) },
    );
    const b = new Uint8Array(8);
    expect(() => u32(b, 5)).toThrow(RangeError);
    expect(() => put64(b, 1, 1n)).toThrow(RangeError);
    expect(() => u16(b, -1)).toThrow(RangeError);
  });

  it('hex round trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const hex = bytesToHex(b);
        expect(hex).toBe(Buffer.from(b).toString('hex'));
        expect([...hexToBytes(hex)]).toEqual([...b]);
      }),
      { numRuns: runs(200) },
    );
  });
});
