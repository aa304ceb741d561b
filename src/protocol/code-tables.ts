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
 * To add a table: add one entry to CODE_TABLES below and declare the fields with
 * `codeValue(NAME, ...)` / `codeName(NAME, ...)`.
 */
import * as z from 'zod';
import { FW_STATUS } from '../firmware/status.js';
import { RMP_RC } from '../rmp/return-codes.js';
import { PTE_ERROR, TMPM_COMMAND, TMPM_STATUS } from '../tmpm/commands.js';

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
  TmpmStatus: {
    table: TMPM_STATUS,
    description: 'TMPM statuses (AMD spec #58151 rev 0.51 via drivers/dma/tmpm; docs/hardware.md §2.4), written to the ring entry status_reg and the gctx word bits 7:0. 0xF0 (240) is SUCCESS.',
  },
  TmpmCommand: {
    table: TMPM_COMMAND,
    description: "TMPM commands (cmd_reg bits 7:0); PUNSMASH_IO 0x06 is our number (not public; the scenario's tmpm.punsmashCommand changes it).",
  },
  TmpmPteError: {
    table: PTE_ERROR,
    description: 'PSMASH_IO / PUNSMASH_IO check 10: the rule the first bad PTE broke (gctx word bits 63:60; our codes).',
  },
} as const satisfies Record<string, CodeTable>;

export type CodeTableName = keyof typeof CODE_TABLES;

/** Metadata keys openrpc.ts looks for. */
export const CODE_VALUE_KEY = 'x-code-table';
export const CODE_NAME_KEY = 'x-code-table-name';

/** An integer field holding a code of `table`. */
export function codeValue(table: CodeTableName, description: string) {
  return z
    .int()
    .min(0)
    .meta({ description, [CODE_VALUE_KEY]: table });
}

/** A string field holding the name of a code of `table` ("UNKNOWN_0x.." for a number outside it). */
export function codeName(table: CodeTableName, description: string) {
  return z.string().meta({ description, [CODE_NAME_KEY]: table });
}
