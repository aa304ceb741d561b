/**
 * Hex output of the wire (protocol/README.md §2 Conventions): lowercase without
 * leading zeros; event words use fixed eight digits. Input is parsed by the protocol
 * schemas.
 */
import { invalidArgument } from './emu-error.js';

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
