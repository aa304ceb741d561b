/**
 * Params of the hottest methods (a smash and its undo, the PSP mailbox registers,
 * clock.now, clock.advance) checked without zod: a zod safeParse of four hex
 * strings costs about as much as the smash itself. A fast parser accepts only
 * input its method's schema certainly accepts, and returns exactly what the schema
 * returns for it (the same keys and values: bigints, numbers); anything else, a
 * bad value, an unknown or missing key, is FALLBACK, and the schema parses it, so
 * every error and its data.issues stay the schema's own. test/protocol's
 * differential test holds each parser to its schema.
 *
 * The pieces mirror wire.ts: hex64 is `hex64()` (a "0x..." string of at most 66
 * characters, any case, below 2^64, to bigint), int is `intRange(min, max)` or
 * `z.int()` with bounds (a safe integer in range, unchanged).
 *
 * Keyed by method name as a plain string, so this file does not import the method
 * table that imports it; the differential test looks every key up in METHODS.
 */

export const FALLBACK: unique symbol = Symbol('fallback to the schema');
export type Fallback = typeof FALLBACK;

/** Raw params (undefined = none sent) to the parsed params, or FALLBACK. */
export type FastParser = (raw: Record<string, unknown> | undefined) => Record<string, unknown> | Fallback;

/** One field: the raw value to the parsed one, or FALLBACK. */
type FieldParser = (value: unknown) => unknown;

const HEX_INPUT_RE = /^0[xX][0-9a-fA-F]+$/;
const HEX_MAX_CHARS = 2 + 64;
const TWO_POW_64 = 2n ** 64n;

const hex64: FieldParser = (v) => {
  if (typeof v !== 'string' || v.length > HEX_MAX_CHARS || !HEX_INPUT_RE.test(v)) return FALLBACK;
  const b = BigInt(v);
  return b < TWO_POW_64 ? b : FALLBACK;
};

const intIn =
  (min: number, max: number): FieldParser =>
  (v) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? v : FALLBACK;

/** What a field holds: a hex64() value, or an integer min..max. */
export type FieldKind = { hex64: true } | { int: readonly [number, number] };

export interface FastField {
  key: string;
  kind: FieldKind;
  /** exactOptional: the key may be absent (and is then absent from the output). */
  optional: boolean;
}

const HEX64: FieldKind = { hex64: true };
const int = (min: number, max: number): FieldKind => ({ int: [min, max] });
const req = (key: string, kind: FieldKind): FastField => ({ key, kind, optional: false });
const opt = (key: string, kind: FieldKind): FastField => ({ key, kind, optional: true });

/**
 * A strict object of `fields`: every required key present, no other key, each
 * value its field's. Plain objects only (JSON.parse makes nothing else; null-prototype ones too).
 */
function strictObject(spec: readonly FastField[]): FastParser {
  const fields = spec.map((f) => ({ key: f.key, optional: f.optional, parse: 'hex64' in f.kind ? hex64 : intIn(f.kind.int[0], f.kind.int[1]) }));
  const known = new Set(fields.map((f) => f.key));
  const required = fields.filter((f) => !f.optional).length;
  return (raw) => {
    if (raw === undefined) return required === 0 ? {} : FALLBACK;
    const proto: unknown = Object.getPrototypeOf(raw);
    if (proto !== Object.prototype && proto !== null) return FALLBACK;
    let keys = 0;
    for (const key in raw) {
      if (!known.has(key) || !Object.hasOwn(raw, key)) return FALLBACK;
      keys++;
    }
    const out: Record<string, unknown> = {};
    let present = 0;
    for (const f of fields) {
      if (!Object.hasOwn(raw, f.key)) {
        if (f.optional) continue;
        return FALLBACK;
      }
      const v = f.parse(raw[f.key]);
      if (v === FALLBACK) return FALLBACK;
      out[f.key] = v;
      present++;
    }
    // A key for..in did not see (non-enumerable, a symbol) is not JSON's: let the schema judge.
    return present === keys ? out : FALLBACK;
  };
}

const U32_MAX = 0xffff_ffff;
/** `ns()`: z.int().min(0), no upper bound but the safe-integer range. */
const NS = int(0, Number.MAX_SAFE_INTEGER);
/** `z.int()` alone (psp register offsets: the domain names the bad one). */
const ANY_INT = int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

/** The fields of each method with a fast parser: each must be its schema in methods-*.ts (the differential test says so). */
export const FAST_FIELDS: Readonly<Record<string, readonly FastField[]>> = {
  'clock.now': [],
  'clock.advance': [req('ns', NS)],
  'tmpm.psmashIo': [req('srcPgSpa', HEX64), req('smashHpteSpa', HEX64), req('srcHpmdSpa', HEX64), req('gctxSpa', HEX64), opt('entry', HEX64), opt('asid', int(0, 1023))],
  'tmpm.punsmashIo': [req('srcPgSpa', HEX64), req('srcHpmdSpa', HEX64), req('gctxSpa', HEX64)],
  'psp.readReg': [req('offset', ANY_INT)],
  'psp.writeReg': [req('offset', ANY_INT), req('value', int(0, U32_MAX))],
};

export const FAST_PARAMS: Readonly<Record<string, FastParser | undefined>> = Object.fromEntries(Object.entries(FAST_FIELDS).map(([name, fields]) => [name, strictObject(fields)]));
