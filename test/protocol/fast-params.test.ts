/**
 * The fast params parsers (src/protocol/fast-params.ts) against the method table's
 * zod schemas: wherever a fast parser answers, the schema accepts the same input and
 * returns the same params; valid params never fall back (the fast path is taken);
 * anything else falls back, so errors stay the schema's.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type * as z from 'zod';
import { runs } from '../helpers/fc-seed.js';
import { FALLBACK, FAST_FIELDS, FAST_PARAMS, type FastField } from '../../src/protocol/fast-params.js';
import { METHODS, parseParams, type MethodName } from '../../src/protocol/methods.js';

const fastMethods = Object.keys(FAST_FIELDS) as MethodName[];
const schemaOf = (m: MethodName) => METHODS[m].params as unknown as z.ZodType;

/** A hex string of `v`: any case, prefix included, up to `pad` leading zeros. */
const hexOf = (v: bigint, upper: boolean, pad: number, prefixUpper: boolean) => {
  const digits = '0'.repeat(pad) + v.toString(16);
  return (prefixUpper ? '0X' : '0x') + (upper ? digits.toUpperCase() : digits);
};

const validHex = fc
  .tuple(fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 2n ** 64n - 1n, 2n ** 53n, 0x100200000n)), fc.boolean(), fc.integer({ min: 0, max: 50 }), fc.boolean())
  .map(([v, u, p, pu]) => {
    const s = hexOf(v, u, p, pu);
    return s.length <= 66 ? s : hexOf(v, u, 0, pu);
  });

function validValue(f: FastField): fc.Arbitrary<unknown> {
  if ('hex64' in f.kind) return validHex;
  const [min, max] = f.kind.int;
  return fc.oneof(fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31) }), fc.constantFrom(min, max));
}

/** Values of every kind, valid for some fields and not others. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  validHex,
  fc.constantFrom('0x', '0x10000000000000000', '0x' + '0'.repeat(65) + '1', '0x' + '0'.repeat(64) + '1', '10', '0xg', ' 0x1', '0x1 ', '', '-0x1', '0b101'),
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1023, 1024, -1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1.5, Number.NaN, Number.POSITIVE_INFINITY),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant({}),
  fc.constant([]),
  fc.bigInt(),
);

function check(method: MethodName, raw: Record<string, unknown> | undefined): unknown {
  const fast = (FAST_PARAMS[method] as NonNullable<(typeof FAST_PARAMS)[MethodName]>)(raw);
  if (fast !== FALLBACK) {
    const exact = schemaOf(method).safeParse(raw ?? {});
    expect(exact.success, `${method}: the fast parser accepted what the schema refuses: ${JSON.stringify(raw, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`).toBe(true);
    expect(fast).toStrictEqual(exact.data);
  }
  return fast;
}

describe('fast params parsers', () => {
  it('are keyed by method names of the table (fast-params.ts keys by plain string)', () => {
    expect(fastMethods.length).toBeGreaterThan(0);
    expect(fastMethods.filter((m) => !Object.hasOwn(METHODS, m))).toEqual([]);
    expect(Object.keys(FAST_PARAMS).sort()).toEqual([...fastMethods].sort());
  });

  it('cover exactly the keys of their strict schemas, with the same optional keys', () => {
    for (const m of fastMethods) {
      const shape = (schemaOf(m) as unknown as { shape: Record<string, z.ZodType> }).shape;
      const fields = FAST_FIELDS[m] as readonly FastField[];
      expect(fields.map((f) => f.key).sort(), m).toEqual(Object.keys(shape).sort());
      // exactOptional marks its key optional (optin); it still refuses an explicit undefined.
      for (const f of fields) expect((shape[f.key] as unknown as { _zod: { optin?: string } })._zod.optin === 'optional', `${m}.${f.key}`).toBe(f.optional);
    }
  });

  it('take valid params without the schema and return what the schema returns', () => {
    for (const m of fastMethods) {
      const fields = FAST_FIELDS[m] as readonly FastField[];
      const record = fc.record(Object.fromEntries(fields.map((f) => [f.key, validValue(f)])), { requiredKeys: fields.filter((f) => !f.optional).map((f) => f.key) });
      fc.assert(
        fc.property(record, fc.boolean(), (params, viaJson) => {
          const raw = viaJson ? (JSON.parse(JSON.stringify(params)) as Record<string, unknown>) : params;
          expect(check(m, raw), `${m} fell back on ${JSON.stringify(raw)}`).not.toBe(FALLBACK);
        }),
        { numRuns: runs(300) },
      );
    }
  });

  it('never accept what the schema refuses nor differ from it, whatever the params', () => {
    for (const m of fastMethods) {
      const keys = [...(FAST_FIELDS[m] as readonly FastField[]).map((f) => f.key), 'ioav', 'toString', 'constructor'];
      const record = fc.dictionary(fc.constantFrom(...keys), anyValue, { maxKeys: keys.length });
      fc.assert(
        fc.property(record, (raw) => {
          check(m, raw);
        }),
        { numRuns: runs(1000) },
      );
    }
  });

  it('fall back on odd objects: an own __proto__ key, a class instance, a missing key, no params for a method that needs them', () => {
    const p = { srcPgSpa: '0x1', srcHpmdSpa: '0x2', gctxSpa: '0x3' };
    expect(check('tmpm.punsmashIo', p)).toStrictEqual({ srcPgSpa: 1n, srcHpmdSpa: 2n, gctxSpa: 3n });
    expect(check('tmpm.punsmashIo', JSON.parse('{"srcPgSpa":"0x1","srcHpmdSpa":"0x2","gctxSpa":"0x3","__proto__":{}}') as Record<string, unknown>)).toBe(FALLBACK);
    expect(check('tmpm.punsmashIo', Object.assign(Object.create({ inherited: 1 }) as Record<string, unknown>, p))).toBe(FALLBACK);
    expect(check('tmpm.punsmashIo', { srcPgSpa: '0x1', srcHpmdSpa: '0x2' })).toBe(FALLBACK);
    expect(check('tmpm.punsmashIo', undefined)).toBe(FALLBACK);
    expect(check('clock.now', undefined)).toStrictEqual({});
    expect(check('clock.now', { extra: 1 })).toBe(FALLBACK);
  });

  it('leave errors to the schema: parseParams still names the bad key and says why', () => {
    const r = parseParams('tmpm.psmashIo', { srcPgSpa: '0x100200000', smashHpteSpa: 'zz', srcHpmdSpa: '0x1', gctxSpa: '0x2', ioav: 1 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.path)).toEqual(expect.arrayContaining([['smashHpteSpa'], ['ioav']]));
  });
});
