/**
 * A large result written as JSON text in slices, so the event loop turns between
 * them (/healthz, other connections' calls): emu.dumpState and trace.export can
 * answer tens of MB, which one toWire + JSON.stringify would write in a single
 * block of seconds. The text is what toWire + JSON.stringify would give (bigints as
 * "0x..." hex, typed arrays as arrays, toJSON honoured, undefined keys left out and
 * undefined array items as null). The envelope splices it into the response as is.
 *
 * The value must not change while it is written: handlers pass documents they built
 * for this answer (a state document shares only frozen memory pages).
 */
import { toWire } from './to-wire.js';

/** JSON text of a result, written once; the envelope puts it in the response unchanged. */
export class PreparedJson {
  constructor(
    readonly text: string,
    /** The value written, when the envelope wrote it itself (a flat result): metrics read its statusName. */
    readonly source?: unknown,
  ) {}

  /** For a path that stringifies the result again (a batch, a recording): the value itself. */
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/**
 * Which containers are written item by item (a slice may end after each item): the
 * objects near the top (the sections of a document, down to `state.iommu.iotlb` at
 * depth 3) and long arrays (IOTLB entries, memory pages, trace events). Anything
 * else, an entry or an event, is written whole with one JSON.stringify.
 */
const OBJECT_DEPTH = 4;
const ARRAY_DEPTH = 5;
const LONG_ARRAY = 16;

function itemByItem(value: object, depth: number): boolean {
  if (ArrayBuffer.isView(value)) return false;
  if (Array.isArray(value)) return depth < ARRAY_DEPTH && value.length > LONG_ARRAY;
  return depth < OBJECT_DEPTH;
}

/** Writes `value` as JSON, yielding (`yieldFn`) whenever a slice has run `sliceMs` of wall time. */
export async function toJsonSliced(value: unknown, yieldFn: () => Promise<void>, sliceMs: number): Promise<PreparedJson> {
  const parts: string[] = [];
  // The text so far in pieces of about JOIN_PARTS parts: one join of millions of
  // small parts held the loop ~0.4 s for a 36 MB dump; joins of a few thousand
  // happen between items, and the last join only copies a few hundred pieces.
  const pieces: string[] = [];
  const it = write(value, 0, parts, []);
  let sliceStart = performance.now();
  for (let r = it.next(); r.done !== true; r = it.next()) {
    // Between items: no container is waiting to take back what it wrote (write's `mark`).
    if (parts.length >= JOIN_PARTS) {
      pieces.push(parts.join(''));
      parts.length = 0;
    }
    if (performance.now() - sliceStart >= sliceMs) {
      await yieldFn();
      sliceStart = performance.now();
    }
  }
  pieces.push(parts.join(''));
  return new PreparedJson(pieces.join(''));
}

/** Parts joined into one piece of the text at a time (toJsonSliced). */
const JOIN_PARTS = 4096;

/** Pushes the JSON of `value` onto `out` (nothing for a value JSON leaves out); yields after each item of a large container. */
function* write(value: unknown, depth: number, out: string[], stack: object[]): Generator<void, boolean> {
  if (typeof value !== 'object' || value === null || !itemByItem(value, depth)) {
    const text = JSON.stringify(flatJsonSafe(value) ? value : toWire(value));
    if (text === undefined) return false;
    out.push(text);
    return true;
  }
  if (stack.includes(value)) throw new TypeError('result is circular and cannot be sent as JSON');
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return yield* write(toJSON.call(value), depth, out, stack);
  stack.push(value);
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      if (!(yield* write(value[i], depth + 1, out, stack))) out.push('null');
      yield;
    }
    out.push(']');
  } else {
    out.push('{');
    let first = true;
    for (const key of Object.keys(value)) {
      const mark = out.length;
      out.push((first ? '' : ',') + JSON.stringify(key) + ':');
      if (yield* write((value as Record<string, unknown>)[key], depth + 1, out, stack)) first = false;
      else out.length = mark;
      yield;
    }
    out.push('}');
  }
  stack.pop();
  return true;
}

/**
 * Whether JSON.stringify writes `value` as toWire would without toWire's copy: a
 * number, string, boolean or null, or a plain object of those (an IOTLB entry: a
 * full IOTLB dump has 2^19 of them, each copy garbage for the collector).
 */
function flatJsonSafe(value: unknown): boolean {
  if (typeof value !== 'object') return typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean';
  if (value === null) return true;
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key];
    const t = typeof v;
    if (t !== 'number' && t !== 'string' && t !== 'boolean' && v !== null) return false;
  }
  return true;
}
