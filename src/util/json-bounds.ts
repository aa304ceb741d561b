/**
 * Bounds on JSON values taken from outside and kept (protocol/README.md §1.3): a fault
 * rule's `rpcError.data` nested 100,000 levels deep was accepted, and then every
 * JSON.stringify of the platform (emu.dumpState, the --state save) overflowed the
 * stack. A value kept by the emulator is checked once, when it comes in, without
 * recursion (the check itself must not overflow on the value it refuses).
 */

import { runSteps, STEP_ITEMS, type Steps } from './steps.js';

export interface JsonBounds {
  /** Deepest nesting of arrays and objects; a scalar is depth 0. */
  maxDepth: number;
  /** Longest JSON text, in UTF-16 code units, estimated without building it. */
  maxChars: number;
}

/** What a fault rule's `rpcError.data` may be: 32 levels, 16 KiB of JSON text. */
export const FAULT_DATA_BOUNDS: JsonBounds = { maxDepth: 32, maxChars: 16 * 1024 };

/**
 * Why `value` breaks `bounds` (a sentence), or undefined when it keeps them. The
 * size counts each string, key and number as written in JSON, plus punctuation.
 */
export function jsonBoundsViolation(value: unknown, bounds: JsonBounds): string | undefined {
  const stack: Array<[unknown, number]> = [[value, 0]];
  let chars = 0;
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v === 'string') chars += v.length + 2;
    else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') chars += String(v).length;
    else if (v === null || v === undefined) chars += 4;
    else if (typeof v === 'object') {
      if (depth + 1 > bounds.maxDepth) return `nests deeper than ${bounds.maxDepth} levels`;
      chars += 2;
      if (Array.isArray(v)) {
        for (const item of v) {
          chars += 1;
          stack.push([item, depth + 1]);
        }
      } else {
        for (const key of Object.keys(v)) {
          chars += key.length + 4;
          stack.push([(v as Record<string, unknown>)[key], depth + 1]);
        }
      }
    }
    if (chars > bounds.maxChars) return `is longer than ${bounds.maxChars} characters of JSON`;
  }
  return undefined;
}

/** Characters of JSON text `value` would take, about (the measure jsonBoundsViolation uses), without recursion. */
export function jsonChars(value: unknown): number {
  return runSteps(jsonCharsSteps(value));
}

/** jsonChars in steps (a yield every STEP_ITEMS values): a large state document counted in slices. */
export function* jsonCharsSteps(value: unknown): Steps<number> {
  const stack: unknown[] = [value];
  let chars = 0;
  let seen = 0;
  while (stack.length > 0) {
    if (++seen % STEP_ITEMS === 0) yield;
    const v = stack.pop();
    if (typeof v === 'string') chars += v.length + 2;
    else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') chars += String(v).length;
    else if (v === null || v === undefined) chars += 4;
    else if (typeof v === 'object') {
      chars += 2;
      if (Array.isArray(v)) {
        chars += v.length;
        for (const item of v) stack.push(item);
      } else {
        for (const key of Object.keys(v)) {
          chars += key.length + 4;
          stack.push((v as Record<string, unknown>)[key]);
        }
      }
    }
  }
  return chars;
}
