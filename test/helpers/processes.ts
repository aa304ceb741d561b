/**
 * Child processes for the tests that run smash-emu as a command: spawn with the
 * output collected, the exit awaited, and the process tracked so the test can kill
 * whatever is still running afterwards.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Proc {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** The inherited environment without SMASH_EMU_*, so a developer's own settings cannot change a test. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('SMASH_EMU_')));
  return { ...env, ...extra };
}

/**
 * Runs `node ARGV` in the project root, tracked in `running` until it exits.
 * `detached` puts it in its own process group (to kill a wrapper and its child).
 */
export function launchNode(argv: string[], running: Set<ChildProcessWithoutNullStreams>, opts: { env?: Record<string, string>; detached?: boolean } = {}): Proc {
  const proc = spawn(process.execPath, argv, { cwd: ROOT, env: cleanEnv(opts.env), detached: opts.detached ?? false });
  running.add(proc);
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('close', (code) => {
      running.delete(proc);
      resolve(code);
    }),
  );
  return { proc, stdout: () => out, stderr: () => err, exited };
}

/** The URL a `smash-emu serve` child prints in its ready line; rejects if it exits first. */
export function listeningUrl(p: Proc): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const look = (): void => {
      const m = /^smash-emu listening on (ws:\/\/\S+)\n/.exec(p.stdout());
      if (m !== null) resolve(m[1] as string);
    };
    p.proc.stdout.on('data', look);
    look();
    void p.exited.then((code) => reject(new Error(`serve exited with ${code}: ${p.stderr()}`)));
  });
}
