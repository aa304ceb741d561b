/**
 * `smash-emu experiment`: expand the spec's grid, run every point on its own
 * platform on the worker pool with progress on stderr, then write results.csv,
 * results.json and report.html into the output directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentSpec } from './experiment-spec.js';
import { expandGrid } from './grid.js';
import { Progress, type ProgressSink } from './progress.js';
import { renderReport } from './report-html.js';
import { buildResults, toCsv, toRow, type ExperimentResults } from './results.js';
import { defaultJobs, runPoints } from './worker-pool.js';

export interface ExperimentRun {
  results: ExperimentResults;
  files: { csv: string; json: string; html: string };
  failed: number;
}

export async function runExperiment(spec: ExperimentSpec, outDir: string, opts: { jobs?: number; progress?: ProgressSink } = {}): Promise<ExperimentRun> {
  // Made first, so an unwritable directory fails before minutes of simulation.
  mkdirSync(outDir, { recursive: true });
  const points = expandGrid(spec);
  const jobs = Math.max(1, Math.min(opts.jobs ?? defaultJobs(), points.length));
  const progress = new Progress(points.length, opts.progress ?? { write: () => true });
  progress.start(jobs);
  const ctx = { scenario: spec.scenario, target: spec.target, timing: spec.timing };
  const outcomes = await runPoints(points, ctx, { jobs, onResult: (o) => progress.point(o) });
  progress.finish();
  const results = buildResults(spec, outcomes);
  const files = { csv: join(outDir, 'results.csv'), json: join(outDir, 'results.json'), html: join(outDir, 'report.html') };
  writeFileSync(files.csv, toCsv(outcomes.map(toRow)));
  writeFileSync(files.json, JSON.stringify(results, null, 1) + '\n');
  writeFileSync(files.html, renderReport(results));
  return { results, files, failed: outcomes.filter((o) => o.error !== null).length };
}
