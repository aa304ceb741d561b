/**
 * Results and notification params as JSON values. The domain hands back bigints
 * (64-bit values, IOVAs) and sometimes BigUint64Arrays; JSON.stringify throws on the
 * first and writes typed arrays as {"0":...} objects. On the wire a 64-bit value is a
 * lowercase "0x..." string without leading zeros (protocol/README.md §2).
 */

/** Lowercase "0x..." of a bigint; a negative one (never produced by the domain) as "-0x...". */
export function bigintToWire(value: bigint): string {
  return value < 0n ? '-0x' + (-value).toString(16) : '0x' + value.toString(16);
}

/**
 * A copy of `value` that JSON.stringify writes as the wire expects: bigints become
 * hex strings, typed arrays become arrays, `toJSON` is honoured. Throws TypeError
 * on a cycle, as JSON.stringify would.
 */
export function toWire(value: unknown): unknown {
  return walk(value, []);
}

function walk(value: unknown, stack: object[]): unknown {
  switch (typeof value) {
    case 'bigint':
      return bigintToWire(value);
    case 'object':
      break;
    case 'function':
    case 'symbol':
      return undefined;
    default:
      return value;
  }
  if (value === null) return null;
  if (stack.includes(value)) throw new TypeError('result is circular and cannot be sent as JSON');
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return walk(toJSON.call(value), stack);
  stack.push(value);
  let out: unknown;
  if (Array.isArray(value)) {
    out = value.map((item) => walk(item, stack) ?? null);
  } else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    out = Array.from(value as unknown as ArrayLike<unknown>, (item) => walk(item, stack));
  } else {
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const item = walk((value as Record<string, unknown>)[key], stack);
      if (item === undefined) continue;
      // An own "__proto__" key (JSON.parse makes them) stays a key: assigning it would set the prototype.
      if (key === '__proto__') Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
      else copy[key] = item;
    }
    out = copy;
  }
  stack.pop();
  return out;
}

/**
 * JSON.stringify(toWire(value)) without the deep walk, for the common result: a
 * plain object whose values are all primitives or bigints (a smash's statuses,
 * clock.now, a register). Its bigints become hex in a shallow copy (none: no copy)
 * and JSON.stringify writes it, so the text is the same to the byte. Undefined for
 * anything else (a nested value, a class instance, a toJSON), which then takes the
 * general path.
 */
export function flatJson(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const proto: unknown = Object.getPrototypeOf(value);
  if ((proto !== Object.prototype && proto !== null) || Object.hasOwn(value, 'toJSON')) return undefined;
  const o = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key in o) {
    const v = o[key];
    if (typeof v === 'bigint') {
      // An own "__proto__" key would set the copy's prototype: the general path keeps it a key.
      if (key === '__proto__') return undefined;
      copy ??= { ...o };
      copy[key] = bigintToWire(v);
    } else if (typeof v === 'object' && v !== null) return undefined;
  }
  return JSON.stringify(copy ?? o);
}
