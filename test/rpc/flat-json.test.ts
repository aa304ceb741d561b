/**
 * flatJson (src/rpc/to-wire.ts), the envelope's shortcut for flat results: the same
 * text as JSON.stringify(toWire(value)) to the byte wherever it answers, and no
 * answer (the general path) for anything it cannot write the same way.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { flatJson, toWire } from '../../src/rpc/to-wire.js';

const exact = (v: unknown) => JSON.stringify(toWire(v));

const primitive = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1e21, 1e-7, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('\u2028', '"\\', '\ud800', 'a\u0000b'),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt(),
);
const key = fc.oneof(fc.string(), fc.constantFrom('status', '0', '10', '1.5', '__proto__', 'toJSON', 'a"b', '\u2028'));

describe('flatJson', () => {
  it('writes a flat object exactly as JSON.stringify(toWire(value)) does', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, primitive), { maxLength: 16 }), fc.boolean(), (entries, nullProto) => {
        const o: Record<string, unknown> = nullProto ? (Object.create(null) as Record<string, unknown>) : {};
        // defineProperty: an own "__proto__" key as JSON.parse makes it.
        for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
        const text = flatJson(o);
        // An own toJSON, or an own "__proto__" holding a bigint, is left to the general path.
        if (Object.hasOwn(o, 'toJSON')) expect(text).toBeUndefined();
        else if (text !== undefined || typeof o['__proto__'] !== 'bigint' || !Object.hasOwn(o, '__proto__')) expect(text).toBe(exact(o));
      }),
      { numRuns: runs(2000) },
    );
  });

  it('is the smash result as the wire carries it', () => {
    const r = { status: 240, statusName: 'SUCCESS', subStatus: 0, index: 3, stallNs: 2_000_000, gctxWord: 0xfc02000f0n, rmpSmashed: true, detail: undefined };
    expect(flatJson(r)).toBe('{"status":240,"statusName":"SUCCESS","subStatus":0,"index":3,"stallNs":2000000,"gctxWord":"0xfc02000f0","rmpSmashed":true}');
    expect(flatJson({})).toBe('{}');
  });

  it('leaves nested values, arrays, class instances and non-objects to the general path', () => {
    for (const v of [{ a: { b: 1 } }, { a: [1] }, { a: new Uint8Array(1) }, [1, 2], new Date(0), new Map(), 5, 'x', null, undefined, 1n, { toJSON: () => 1 }]) {
      expect(flatJson(v)).toBeUndefined();
    }
    expect(flatJson({ f: () => 1, s: Symbol('s'), n: 1 })).toBe(exact({ f: () => 1, s: Symbol('s'), n: 1 }));
  });
});
