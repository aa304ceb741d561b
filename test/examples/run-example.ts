/**
 * Runs an example as a child process, the way a reader would, and returns its exit
 * code and output. SMASH_EMU_* and VITEST_* variables of the test process are not
 * passed on unless given in `env`.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = 'node_modules/tsx/dist/cli.mjs';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runNode(args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<RunResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SMASH_EMU_') && !k.startsWith('VITEST')));
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, env: { ...base, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `npx tsx examples/NAME.ts`, without npx. */
export function runExample(name: string, env: Record<string, string> = {}): Promise<RunResult> {
  return runNode([TSX, `examples/${name}.ts`], env);
}

/** The rows of the first table printed after a header line containing `headerText`. */
export function tableAfter(stdout: string, headerText: string): string[][] {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => l.includes(headerText));
  if (at < 0) return [];
  const rows: string[][] = [];
  for (const line of lines.slice(at + 2)) {
    if (line.trim() === '' || !/^\s/.test(line)) break;
    rows.push(line.trim().split(/\s{2,}/));
  }
  return rows;
}
