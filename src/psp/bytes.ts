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
  const first = spa - (spa % 8);
  const words = Math.ceil((spa + length - first) / 8);
  const buf = new DataView(new ArrayBuffer(words * 8));
  for (let i = 0; i < words; i++) buf.setBigUint64(i * 8, memory.word(first + i * 8), true);
  out.set(new Uint8Array(buf.buffer, spa - first, length));
  return out;
}

/** Writes `bytes` at `spa` (any alignment): the partly covered words keep their other bytes. */
export function writeBytes(memory: HostMemory, spa: number, bytes: Uint8Array): void {
  if (bytes.length === 0) return;
  const first = spa - (spa % 8);
  const words = Math.ceil((spa + bytes.length - first) / 8);
  const buf = new DataView(new ArrayBuffer(words * 8));
  buf.setBigUint64(0, memory.word(first), true);
  if (words > 1) buf.setBigUint64((words - 1) * 8, memory.word(first + (words - 1) * 8), true);
  new Uint8Array(buf.buffer).set(bytes, spa - first);
  for (let i = 0; i < words; i++) {
    const w = buf.getBigUint64(i * 8, true);
    if (w !== memory.word(first + i * 8)) memory.setWord(first + i * 8, w);
  }
}

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export const u8 = (b: Uint8Array, off: number): number => b[off] ?? 0;
export const u16 = (b: Uint8Array, off: number): number => view(b).getUint16(off, true);
export const u32 = (b: Uint8Array, off: number): number => view(b).getUint32(off, true);
export const u64 = (b: Uint8Array, off: number): bigint => view(b).getBigUint64(off, true);

export function put16(b: Uint8Array, off: number, v: number): void {
  view(b).setUint16(off, v, true);
}
export function put32(b: Uint8Array, off: number, v: number): void {
  view(b).setUint32(off, v >>> 0, true);
}
export function put64(b: Uint8Array, off: number, v: bigint): void {
  view(b).setBigUint64(off, BigInt.asUintN(64, v), true);
}

/** Lowercase hex, two digits a byte, no 0x (how pci.doe carries messages). */
export function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
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
