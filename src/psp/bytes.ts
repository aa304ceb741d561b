/**
 * Byte access to host memory for the firmware's buffers (every structure of
 * docs/sev-firmware.md §2 is packed little-endian, at any byte alignment), and
 * little-endian field access inside a byte array. Addresses are checked by the
 * caller (the firmware answers INVALID_ADDRESS for one outside memory).
 */
import type { HostMemory } from '../memory/host-memory.js';

/** `length` bytes of memory from `spa` (any alignment; untouched memory reads 0). */
export function readBytes(memory: HostMemory, spa: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (length === 0) return out;
  const skew = spa % 8;
  const first = spa - skew;
  const words = Math.ceil((length + skew) / 8);
  for (let i = 0; i < words; i++) {
    const w = memory.word(first + i * 8);
    if (w === 0n) continue;
    const lo = Number(w & 0xffff_ffffn);
    const hi = Number(w >> 32n);
    // Byte k of word i lands at out[i * 8 + k - skew] when that is inside `out`.
    for (let k = 0, at = i * 8 - skew; k < 8; k++, at++) {
      if (at < 0 || at >= length) continue;
      out[at] = (k < 4 ? lo >>> (k * 8) : hi >>> ((k - 4) * 8)) & 0xff;
    }
  }
  return out;
}

/** Writes `bytes` at `spa` (any alignment): the partly covered words keep their other bytes. */
export function writeBytes(memory: HostMemory, spa: number, bytes: Uint8Array): void {
  if (bytes.length === 0) return;
  const skew = spa % 8;
  const first = spa - skew;
  const words = Math.ceil((bytes.length + skew) / 8);
  for (let i = 0; i < words; i++) {
    const at = first + i * 8;
    const old = memory.word(at);
    let lo = Number(old & 0xffff_ffffn);
    let hi = Number(old >> 32n);
    for (let k = 0, b = i * 8 - skew; k < 8; k++, b++) {
      if (b < 0 || b >= bytes.length) continue;
      const v = bytes[b] as number;
      if (k < 4) lo = (lo & ~(0xff << (k * 8))) | (v << (k * 8));
      else hi = (hi & ~(0xff << ((k - 4) * 8))) | (v << ((k - 4) * 8));
    }
    const w = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    if (w !== old) memory.setWord(at, w);
  }
}

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Throws as DataView would for a field past the end. */
function inside(b: Uint8Array, off: number, size: number): void {
  if (!(off >= 0 && off + size <= b.length)) throw new RangeError(`Offset is outside the bounds of the DataView`);
}

export const u8 = (b: Uint8Array, off: number): number => b[off] ?? 0;
export function u16(b: Uint8Array, off: number): number {
  inside(b, off, 2);
  return (b[off] as number) | ((b[off + 1] as number) << 8);
}
export function u32(b: Uint8Array, off: number): number {
  inside(b, off, 4);
  return ((b[off] as number) | ((b[off + 1] as number) << 8) | ((b[off + 2] as number) << 16) | ((b[off + 3] as number) << 24)) >>> 0;
}
export function u64(b: Uint8Array, off: number): bigint {
  const lo = u32(b, off);
  const hi = u32(b, off + 4);
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

export function put16(b: Uint8Array, off: number, v: number): void {
  inside(b, off, 2);
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}
export function put32(b: Uint8Array, off: number, v: number): void {
  inside(b, off, 4);
  const x = v >>> 0;
  b[off] = x & 0xff;
  b[off + 1] = (x >>> 8) & 0xff;
  b[off + 2] = (x >>> 16) & 0xff;
  b[off + 3] = x >>> 24;
}
export function put64(b: Uint8Array, off: number, v: bigint): void {
  inside(b, off, 8);
  const x = BigInt.asUintN(64, v);
  put32(b, off, Number(x & 0xffff_ffffn));
  put32(b, off + 4, Number(x >> 32n));
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex, two digits a byte, no 0x (how pci.doe carries messages). */
export function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX_BYTE[b[i] as number] as string;
  return s;
}

export function hexToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
