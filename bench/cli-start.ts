/**
 * `npm run bench:cli`: how long one `smash-emu call` takes, start to exit, against
 * a server already running (started here in process), beside a bare `node -e 0`
 * in the same run: the JavaScript build (dist/, what `npm ci` leaves), the
 * TypeScript path (tsx; what a checkout edited since the build runs), and `npx`
 * (npm's own start added). Medians of alternating repetitions; the ratios to bare
 * node move less than the times on a shared machine.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startApp } from '../src/rpc/app.js';
import { baseScenario } from '../src/protocol/scenario-schema.js';
import { formatTable, isMain, median, nowMs, sig, type Row } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface CliStartResult {
  bareNodeMs: number;
  builtCallMs: number;
  tsxCallMs: number;
  npxCallMs: number;
  builtOverBare: number;
}

function timeRun(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = nowMs();
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.once('close', (code) => (code === 0 ? resolve(nowMs() - t0) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

export async function cliStart(reps = 7): Promise<CliStartResult> {
  if (!existsSync(`${ROOT}dist/src/cli/main.js`)) throw new Error('dist/ is missing: run npm run build (npm ci does it)');
  const app = await startApp({ server: { host: '127.0.0.1', port: 0, pingMs: 0 }, scenario: baseScenario('default') });
  const call = ['call', 'clock.now', '--url', app.url];
  const runs = {
    bare: [] as number[],
    built: [] as number[],
    tsx: [] as number[],
    npx: [] as number[],
  };
  try {
    for (let i = 0; i < reps; i++) {
      runs.bare.push(await timeRun(process.execPath, ['-e', '0']));
      runs.built.push(await timeRun(process.execPath, ['bin/smash-emu.mjs', ...call]));
      runs.tsx.push(await timeRun(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...call]));
      runs.npx.push(await timeRun('npx', ['smash-emu', ...call]));
    }
  } finally {
    await app.close();
  }
  const bare = median(runs.bare);
  const built = median(runs.built);
  return { bareNodeMs: sig(bare), builtCallMs: sig(built), tsxCallMs: sig(median(runs.tsx)), npxCallMs: sig(median(runs.npx)), builtOverBare: sig(built / bare, 3) };
}

export function cliRows(r: CliStartResult): Row[] {
  return [
    { name: 'cli: bare node -e 0', value: r.bareNodeMs, unit: 'ms' },
    { name: 'cli: smash-emu call, built JavaScript (bin, dist/)', value: r.builtCallMs, unit: 'ms', target: { max: 300 } },
    { name: 'cli: built call / bare node', value: r.builtOverBare, unit: 'ratio' },
    { name: 'cli: smash-emu call through tsx (TypeScript)', value: r.tsxCallMs, unit: 'ms' },
    { name: 'cli: npx smash-emu call (npm start-up included)', value: r.npxCallMs, unit: 'ms' },
  ];
}

if (isMain(import.meta.url)) {
  const r = await cliStart();
  process.stdout.write(formatTable(cliRows(r)) + '\n');
  process.stdout.write(JSON.stringify({ cli: r }) + '\n');
}
