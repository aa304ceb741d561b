/**
 * The CLI's own failures: a message for stderr and the exit code that goes with it.
 * Exit codes: 2 = the command line (a flag, a variable, the scenario file, the
 * JSON params) is wrong and nothing was started; 1 = a failure while running (a
 * corrupt --state file, a port in use, a failed save, a refused or failed call).
 */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
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
