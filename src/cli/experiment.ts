/**
 * `smash-emu experiment SPEC.json [--out DIR] [--jobs N]`: runs the sweep a spec
 * describes (src/experiment) and prints where the CSV, JSON and HTML report went,
 * and the answers the results give. Exit 0 when every point ran, 1 when a point
 * failed (its row says why; the files are written anyway), 2 for a bad spec.
 */
import { basename, extname, resolve } from 'node:path';
import { readExperimentSpec } from '../experiment/experiment-spec.js';
import { runExperiment } from '../experiment/run-experiment.js';
import { answersText } from '../experiment/results.js';
import { EmuError } from '../util/emu-error.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { parseArgs } from './args.js';
import { EXIT, usageError } from './cli-error.js';
import type { ExitCode } from './cli-error.js';
import type { Env } from './flag-values.js';
import { integer, nonEmpty, pick } from './flag-values.js';

export const EXPERIMENT_FLAGS: readonly FlagSpec[] = [
  { name: 'out', value: 'DIR', help: 'directory for results.csv, results.json and report.html (created if missing)', defaultText: 'SPEC-results in the current directory (SPEC: the spec file name without .json)' },
  { name: 'jobs', value: 'N', help: 'points run at once, each on its own worker thread', defaultText: 'the number of cores' },
];

export function parseExperimentArgs(argv: readonly string[]): ParsedArgs {
  return parseArgs(argv, EXPERIMENT_FLAGS);
}

export async function experiment(parsed: ParsedArgs, env: Env): Promise<ExitCode> {
  const [specPath, ...extra] = parsed.positionals;
  if (specPath === undefined || specPath === '') throw usageError('experiment needs a SPEC.json, e.g. smash-emu experiment examples/experiments/race-window.json');
  if (extra.length > 0) throw usageError(`experiment takes one SPEC.json, got ${1 + extra.length} arguments`);
  const out = pick(parsed, env, 'out');
  const jobs = pick(parsed, env, 'jobs');
  let spec;
  try {
    spec = readExperimentSpec(specPath);
  } catch (err) {
    if (err instanceof EmuError) throw usageError(`${specPath}: ${err.message}`);
    throw err;
  }
  const outDir = resolve(out === undefined ? `${basename(specPath, extname(specPath))}-results` : nonEmpty(out));
  const run = await runExperiment(spec, outDir, { ...(jobs !== undefined ? { jobs: integer(jobs, 1, 1024) } : {}), progress: process.stderr });
  const lines = [`report  ${run.files.html}`, `csv     ${run.files.csv}`, `json    ${run.files.json}`, ...answersText(run.results.answers)];
  process.stdout.write(lines.join('\n') + '\n');
  return run.failed > 0 ? EXIT.FAILURE : EXIT.OK;
}
