/**
 * Hex conventions of the wire (DESIGN.md "Conventions"): input "0x..." in any case,
 * output lowercase without leading zeros. Event words use fixed eight digits.
 */
import { invalidArgument } from './emu-error.js';

const HEX_RE = /^0x[0-9a-fA-F]+$/;

/** Parses "0x..." into a bigint; throws EMU_INVALID_ARGUMENT naming `what`. */
export function parseHex(text: string, what = 'value'): bigint {
  if (!HEX_RE.test(text)) throw invalidArgument(`${what} must be a hex string "0x...", got ${JSON.stringify(text)}`);
  return BigInt(text);
}

export function isHex(text: string): boolean {
  return HEX_RE.test(text);
}

/** Lowercase "0x..." without leading zeros ("0x0" for zero). */
export function toHex(value: bigint | number): string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw invalidArgument(`cannot format ${value} as hex`);
    return '0x' + value.toString(16);
  }
  if (value < 0n) throw invalidArgument(`cannot format negative ${value} as hex`);
  return '0x' + value.toString(16);
}

/** "0x" and exactly eight lowercase digits (event-log words). */
export function toHex32(value: number): string {
  return '0x' + (value >>> 0).toString(16).padStart(8, '0');
}

/** bigint -> number, for addresses known to be below 2^53. */
export function toSafeNumber(value: bigint, what = 'value'): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(`${what} ${toHex(value)} is out of range`);
  return Number(value);
}

export const MASK64 = (1n << 64n) - 1n;
