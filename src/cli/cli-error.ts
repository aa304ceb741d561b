/**
 * The CLI's own failures: a message for stderr and the exit code that goes with it.
 * The codes are a contract scripts rely on (README "Exit codes"; `smash-emu help`):
 */
export const EXIT = {
  /** Success; for `call`, a result whose status or rc is SUCCESS (or one --ok-status names). */
  OK: 0,
  /** A failure while running: could not start, a corrupt --state file, a failed save. */
  FAILURE: 1,
  /** The command line (a flag, a variable, the scenario file, JSON-PARAMS) is wrong; nothing was started or sent (`call -`: a stdin line that is not a call; nothing from that line on). */
  USAGE: 2,
  /** `call`: the emulated command answered a status other than SUCCESS (statusName, rcName, or a PVALIDATE #NPF). */
  STATUS: 3,
  /** `call`: the server answered a JSON-RPC error (the request was wrong, or an emulator-level refusal). */
  RPC_ERROR: 4,
  /** `call`: no server: the connection could not be opened (refused, unreachable, or the upgrade refused: 401, 404, 503). */
  NO_SERVER: 5,
  /** `call`: no answer within --timeout, or the connection dropped before the answer: the call may still complete on the server. */
  TIMEOUT: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.USAGE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A usage error: exit code 2. */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT.USAGE);
}

/** A failure while running: exit code 1. */
export function failure(message: string): CliError {
  return new CliError(message, EXIT.FAILURE);
}

/** A file-system error in words, with its code for searching: "no such file or directory, ENOENT". */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'it is a directory',
    ENOTDIR: 'a part of the path is not a directory',
    ENOSPC: 'no space left on the device',
    EROFS: 'read-only file system',
  };
  const text = e.code !== undefined ? words[e.code] : undefined;
  return text !== undefined ? `${text}, ${e.code}` : (e.message ?? String(err));
}
