/**
 * Zod pieces for the wire conventions (protocol/README.md §2 Conventions):
 * addresses, 64-bit values and `length`s are "0x..." strings (any case on input,
 * lowercase without leading zeros on output); IDs, counts and times are JSON
 * integers. Input pieces TRANSFORM into what the domain wants (ARCHITECTURE.md
 * "Value conventions"): SPA, GPA and lengths to `number` (below 2^53), IOVAs and
 * raw 64-bit values to `bigint`, so a handler never parses a string.
 *
 * Every message says what is wrong and, where it is not obvious, "; fix: ...". The
 * key path is not in the message: it is the issue's `path` (see issues.ts).
 */
import * as z from 'zod';

/** Case-insensitive throughout, prefix included ("0X1F" is accepted). */
const HEX_INPUT_RE = /^0[xX][0-9a-fA-F]+$/;
/** Output form: lowercase, no leading zeros ("0x0" for zero). */
const HEX_OUTPUT_RE = /^0x(0|[1-9a-f][0-9a-f]*)$/;
/** A 16-digit value padded with zeros still fits; anything longer is refused before BigInt sees it. */
const HEX_MAX_CHARS = 2 + 64;

export const TWO_POW_53 = 2n ** 53n;
export const TWO_POW_64 = 2n ** 64n;
export const PAGE_4K = 0x1000;
export const PAGE_2M = 0x20_0000;

/** Zod error option: "is required" for a missing key, else `message`. */
export function err(message: string): { error: (issue: { input?: unknown }) => string } {
  return { error: (issue) => (issue.input === undefined ? 'is required' : message) };
}

function hexString(example: string) {
  const msg = `must be a hex string "0x..."; fix: write it like ${JSON.stringify(example)}`;
  return z.string(err(msg)).max(HEX_MAX_CHARS, { error: `is too long for a 64-bit value; fix: at most 16 hex digits after "0x"`, abort: true }).regex(HEX_INPUT_RE, { error: msg, abort: true });
}

/** A 64-bit value "0x..." (any case) -> bigint. For IOVAs, PTEs, DTE and command qwords. */
export function hex64(example = '0x6000000040000001') {
  return hexString(example)
    .refine((s) => BigInt(s) < TWO_POW_64, { error: 'must fit in 64 bits; fix: at most 0xffffffffffffffff' })
    .transform((s) => BigInt(s));
}

/**
 * An SPA, GPA or byte count "0x..." -> number. Every address the platform can hold
 * is below 2^52, so refusing >= 2^53 here loses nothing and keeps doubles exact.
 */
export function hexAddr(example = '0x100000000', alignBytes = 1) {
  let schema = hexString(example).refine((s) => BigInt(s) < TWO_POW_53, {
    error: 'must be below 2^53 (0x20000000000000): no SPA, GPA or length of the platform is that large',
    abort: true,
  });
  if (alignBytes > 1) {
    schema = schema.refine((s) => BigInt(s) % BigInt(alignBytes) === 0n, {
      error: `must be ${alignName(alignBytes)}-aligned; fix: round it to a multiple of 0x${alignBytes.toString(16)}`,
    });
  }
  return schema.transform((s) => Number(BigInt(s)));
}

/** A `length` "0x..." -> positive number of bytes, optionally a multiple of `alignBytes`. */
export function hexLength(example = '0x200000', alignBytes = 1) {
  return hexAddr(example, alignBytes).refine((n) => n > 0, { error: 'must be greater than 0x0' });
}

/** Output hex of any value: lowercase, no leading zeros. Results only. */
export const hexOut = z.string().regex(HEX_OUTPUT_RE, 'must be lowercase "0x..." without leading zeros');
/** Event-log words: "0x" and exactly eight lowercase digits. */
export const hexWord32Out = z.string().regex(/^0x[0-9a-f]{8}$/, 'must be "0x" and eight lowercase hex digits');

export function intRange(min: number, max: number, what = '') {
  const msg = `must be an integer ${min}..${max}${what}`;
  return z.int(err(msg)).min(min, msg).max(max, msg);
}

/** PCI requester ID bus<<8 | dev<<3 | fn. */
export const deviceId = intRange(0, 0xffff, ' (bus << 8 | device << 3 | function, e.g. 256 for 01:00.0)').describe('PCI device ID (bus << 8 | device << 3 | function), 0..65535');
export const domainId = intRange(0, 0xffff).describe('IOMMU domain ID, 0..65535');
/** SEV ASIDs are 10 bits in the RMP entry (docs/hardware.md §1.2). */
export const asid = intRange(0, 1023, ' (10 bits)').describe('guest ASID, 0..1023 (0 = hypervisor/firmware)');

/** Non-negative integer nanoseconds (virtual time). */
/** `ns` with an upper bound, for values whose bound is a named limit of the domain. */
export function nsAtMost(max: number, what = 'a duration') {
  return ns(what).max(max, `must be at most ${max} ns (${what})`);
}

export function ns(what = 'a duration') {
  return z
    .int(err(`must be a non-negative integer of nanoseconds (${what})`))
    .min(0, `must be a non-negative integer of nanoseconds (${what})`)
    .describe(`${what}, integer ns`);
}

export function positiveInt(max: number, what: string) {
  return intRange(1, max).describe(`${what}, 1..${max}`);
}

export const pageSize = z.enum(['4K', '2M'], err('must be "4K" or "2M"')).describe('RMP page size: "4K" or "2M"');

/**
 * log2 of a leaf size in bytes. 12..20 are level-1 sizes (20 via NextLevel 7), 21..29
 * level 2, 30..38 level 3 (docs/hardware.md §3.2); 39 (512 GB) is excluded by the
 * hardware erratum Linux honours, larger leaves are not used.
 */
export const sizeLg2 = intRange(12, 38, '; fix: use 12 for 4 KB, 21 for 2 MB, 30 for 1 GB (13..20, 22..29, 31..38 are NextLevel-7 sizes)').describe(
  'log2 of the leaf size in bytes: 12 = 4 KB, 21 = 2 MB, 30 = 1 GB; other values in 12..38 use NextLevel 7',
);

export const opaqueId = (what: string) =>
  z
    .string(err(`must be a ${what} string as returned by the emulator`))
    .min(1)
    .max(128)
    .describe(`opaque ${what}`);

function alignName(bytes: number): string {
  if (bytes === PAGE_2M) return '2 MB';
  if (bytes === PAGE_4K) return '4 KB';
  return `${bytes}-byte`;
}

/** Params of a method that takes none: strict, so a stray key is reported. */
export const noParams = z.strictObject({});

/** `{ ok: true }`, the result of a method with nothing else to say. */
export const okResult = z.looseObject({ ok: z.literal(true) });
