/**
 * Shared helpers of the benchmark: wall time, medians, the result table, the
 * smash-table preparation (the same steps as test/helpers/smash.ts) and child
 * processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

/** Wall time now, in ms (monotonic, sub-µs resolution). */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Runs `fn` and returns its wall time in ms. */
export async function timeMs(fn: () => unknown): Promise<number> {
  const t0 = nowMs();
  await fn();
  return nowMs() - t0;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Operations per second from a count and a wall time in ms. */
export function perSec(count: number, ms: number): number {
  return (count * 1000) / ms;
}

/** Rounds to `digits` significant digits (keeps the JSON line short and readable). */
export function sig(x: number, digits = 4): number {
  return Number.isFinite(x) && x !== 0 ? Number(x.toPrecision(digits)) : x;
}

/** Something the optimiser cannot prove unused: benchmark loops fold their results into it. */
export const sink = { value: 0 };

/** One row of the printed table. */
export interface Row {
  name: string;
  value: number;
  unit: string;
  /** A target the figure must meet: at least (`min`) or at most (`max`). */
  target?: { min?: number; max?: number };
}

export function passOf(r: Row): 'pass' | 'miss' | '' {
  if (r.target === undefined) return '';
  const { min, max } = r.target;
  return (min === undefined || r.value >= min) && (max === undefined || r.value <= max) ? 'pass' : 'miss';
}

function fmtValue(x: number): string {
  if (Math.abs(x) >= 1e6) return x.toExponential(3);
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  return sig(x, 3).toString();
}

export function formatTable(rows: readonly Row[]): string {
  const cells = rows.map((r) => {
    const t = r.target === undefined ? '' : r.target.min !== undefined ? `>= ${r.target.min}` : `<= ${r.target.max ?? ''}`;
    return [r.name, fmtValue(r.value), r.unit, t, passOf(r)];
  });
  const head = ['figure', 'value', 'unit', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) =>
    c
      .map((s, i) => (i === 1 ? s.padStart(widths[i] as number) : s.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

// ---- child processes ----------------------------------------------------------

/**
 * `npm run bench` runs the built JavaScript (dist/bench, dist/src), as `npm start`
 * runs the server: figures are the emulator's, not tsx's (its keepNames wraps every
 * closure made at run time). The smoke test imports the TypeScript and so spawns
 * through tsx. A child is the sibling file of the same kind as this module.
 */
const runningTs = import.meta.url.endsWith('.ts');

/** Spawns `node [nodeArgs] [--import tsx] <bench file> [args]`: one process, so node flags apply to it. */
export function spawnBench(file: string, args: readonly string[], nodeArgs: readonly string[] = []): ChildProcess {
  const script = fileURLToPath(new URL(runningTs ? file : file.replace(/\.ts$/, '.js'), import.meta.url));
  const loader = runningTs ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  return spawn(process.execPath, [...nodeArgs, ...loader, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
}

/** Resolves with the child's first stdout line that parses as JSON. */
export function firstJsonLine<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        child.stdout?.off('data', onData);
        resolve(JSON.parse(line) as T);
        return;
      }
    };
    child.stdout?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before printing its result`)));
  });
}

/** Whether this module is the process's entry point (`tsx bench/x.ts`). */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(entry).href === metaUrl;
}
