/**
 * The code tables a client needs (status and return-code names and numbers),
 * enumerated in protocol/openrpc.json from the `as const` tables the code itself
 * uses, so a generated client needs no hand-copied table and cannot drift.
 *
 * A field holding a code is declared with `codeValue(TABLE, ...)` (the number) or
 * `codeName(TABLE, ...)` (its name). The schema stays a plain integer or string at
 * run time (an injected fault.add status may lie outside the table); openrpc.ts
 * publishes each table once under `components.schemas` (TABLE: the numbers, with
 * `x-enum-varnames`; TABLEName: the names) and points each such field at it with
 * `anyOf: [{$ref}, any other value]`.
 *
 * To add a table (e.g. the TMPM's status codes): add one entry to CODE_TABLES
 * below, `TmpmStatus: { table: TMPM_STATUS, description: '...' }`, and declare the
 * fields with `codeValue('TmpmStatus', ...)` / `codeName('TmpmStatus', ...)`.
 */
import * as z from 'zod';
import { FW_STATUS } from '../firmware/status.js';
import { RMP_RC } from '../rmp/return-codes.js';

export interface CodeTable {
  /** NAME -> number, as the code declares it. */
  table: Readonly<Record<string, number>>;
  description: string;
}

export const CODE_TABLES = {
  SevStatus: {
    table: FW_STATUS,
    description: 'SEV firmware status codes (include/uapi/linux/psp-sev.h; docs/hardware.md §2.3). 0 is SUCCESS.',
  },
  RmpReturnCode: {
    table: RMP_RC,
    description: 'Return codes of RMPUPDATE, PSMASH and PVALIDATE (EAX; docs/hardware.md §1.4-1.6). 0 is SUCCESS; 7 FAIL_BADADDR is our name for PSMASH of a page that cannot be split.',
  },
} as const satisfies Record<string, CodeTable>;

export type CodeTableName = keyof typeof CODE_TABLES;

/** Metadata keys openrpc.ts looks for. */
export const CODE_VALUE_KEY = 'x-code-table';
export const CODE_NAME_KEY = 'x-code-table-name';

/** An integer field holding a code of `table`. */
export function codeValue(table: CodeTableName, description: string) {
  return z.int().min(0).meta({ description, [CODE_VALUE_KEY]: table });
}

/** A string field holding the name of a code of `table` ("UNKNOWN_0x.." for a number outside it). */
export function codeName(table: CodeTableName, description: string) {
  return z.string().meta({ description, [CODE_NAME_KEY]: table });
}
