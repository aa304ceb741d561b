/**
 * A packed little-endian structure as a table of fields (offset, size), decoded
 * and encoded in one place: every firmware buffer of docs/sev-firmware.md §2 is one
 * such table (buffers.ts, sla.ts), so each offset is written once and the golden
 * test reads the tables against the reference field by field.
 */
import { u16, u32, u64, u8, put16, put32, put64 } from './bytes.js';

export interface Field {
  off: number;
  size: 1 | 2 | 4 | 8;
}

export interface Layout<F extends Record<string, Field> = Record<string, Field>> {
  /** The C struct's name in Linux (for messages and the golden file). */
  struct: string;
  bytes: number;
  fields: F;
}

export type Decoded<F extends Record<string, Field>> = { [K in keyof F]: F[K]['size'] extends 8 ? bigint : number };

export const field = <S extends Field['size']>(off: number, size: S): { off: number; size: S } => ({ off, size });

export function layout<F extends Record<string, Field>>(struct: string, bytes: number, fields: F): Layout<F> {
  return { struct, bytes, fields };
}

/** Each layout's fields as an array (decode and encode run per command: no Object.entries per call). */
const FIELD_LISTS = new WeakMap<Layout, ReadonlyArray<readonly [string, Field]>>();

function fieldList(l: Layout): ReadonlyArray<readonly [string, Field]> {
  let list = FIELD_LISTS.get(l);
  if (list === undefined) {
    list = Object.entries(l.fields);
    FIELD_LISTS.set(l, list);
  }
  return list;
}

export function decode<F extends Record<string, Field>>(l: Layout<F>, b: Uint8Array): Decoded<F> {
  const out: Record<string, number | bigint> = {};
  for (const [name, f] of fieldList(l)) {
    out[name] = f.size === 1 ? u8(b, f.off) : f.size === 2 ? u16(b, f.off) : f.size === 4 ? u32(b, f.off) : u64(b, f.off);
  }
  return out as Decoded<F>;
}

/** The structure's bytes with `values` in their fields (absent fields and reserved bytes 0). */
export function encode<F extends Record<string, Field>>(l: Layout<F>, values: Partial<Decoded<F>>): Uint8Array {
  const b = new Uint8Array(l.bytes);
  const given = values as Record<string, number | bigint | undefined>;
  for (const [name, f] of fieldList(l)) {
    if (!Object.hasOwn(given, name)) continue;
    const v = given[name];
    if (v === undefined) continue;
    if (f.size === 1) b[f.off] = Number(v) & 0xff;
    else if (f.size === 2) put16(b, f.off, Number(v) & 0xffff);
    else if (f.size === 4) put32(b, f.off, Number(v));
    else put64(b, f.off, BigInt(v));
  }
  return b;
}
