/**
 * Misuse of the emulator (bad arguments, out-of-range addresses): thrown, with a
 * stable `code`. The emulated machine's own failures (firmware status, RMP return
 * codes, IO page faults) are never thrown: they are returned values.
 */
export const ERROR_CODES = {
  /** An argument is malformed or out of its range. */
  INVALID_ARGUMENT: 'EMU_INVALID_ARGUMENT',
  /** An address lies outside the emulated platform. */
  OUT_OF_RANGE: 'EMU_OUT_OF_RANGE',
  /** An address is not aligned as the operation requires. */
  MISALIGNED: 'EMU_MISALIGNED',
  /** The page pool has no room left. */
  OUT_OF_MEMORY: 'EMU_OUT_OF_MEMORY',
  /** A named object (stream, snapshot, fault rule, domain...) does not exist. */
  NOT_FOUND: 'EMU_NOT_FOUND',
  /** The operation is not allowed in the current mode (e.g. clock.advance in realtime). */
  WRONG_MODE: 'EMU_WRONG_MODE',
  /** A limit was exceeded (maxAdvanceNs, platform count...). */
  LIMIT: 'EMU_LIMIT',
  /** A scenario or state document is not acceptable. */
  BAD_DOCUMENT: 'EMU_BAD_DOCUMENT',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export class EmuError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable detail (e.g. the offending field's path). */
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.name = 'EmuError';
    this.code = code;
    this.detail = detail;
  }
}

export function invalidArgument(message: string, detail?: Record<string, unknown>): EmuError {
  return new EmuError(ERROR_CODES.INVALID_ARGUMENT, message, detail);
}
