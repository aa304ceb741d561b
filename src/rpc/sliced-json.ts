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
 * objects near the top (the sections of a document) and long arrays (IOTLB entries,
 * memory pages, trace events). Anything else, an entry or an event, is written
 * whole with one JSON.stringify.
 */
const OBJECT_DEPTH = 3;
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
  const it = write(value, 0, parts, []);
  let sliceStart = performance.now();
  for (let r = it.next(); r.done !== true; r = it.next()) {
    if (performance.now() - sliceStart >= sliceMs) {
      await yieldFn();
      sliceStart = performance.now();
    }
  }
  return new PreparedJson(parts.join(''));
}

/** Pushes the JSON of `value` onto `out` (nothing for a value JSON leaves out); yields after each item of a large container. */
function* write(value: unknown, depth: number, out: string[], stack: object[]): Generator<void, boolean> {
  if (typeof value !== 'object' || value === null || !itemByItem(value, depth)) {
    const text = JSON.stringify(toWire(value));
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
