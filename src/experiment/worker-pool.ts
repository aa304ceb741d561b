/**
 * Runs points on worker threads, up to `jobs` at once (default: the cores,
 * os.availableParallelism()), each worker taking the next point as soon as it has
 * answered the last. Results come back in completion order through `onResult`; the
 * returned array is in point order. Workers end when the queue is empty.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ExperimentPoint, PointParams } from './grid.js';
import type { PointContext, PointMeasurement } from './run-point.js';

export interface ToWorker {
  index: number;
  params: PointParams;
}
export type FromWorker = { index: number; result: PointMeasurement } | { index: number; error: string };

export interface PointOutcome {
  point: ExperimentPoint;
  result: PointMeasurement | null;
  /** Why the point failed (an exception on its platform), or null. */
  error: string | null;
  /** Wall time the point took on its worker, ms. */
  wallMs: number;
}

/**
 * The worker's entry: built JavaScript (dist/, what the bin runs after `npm ci`)
 * runs point-worker.js directly; the TypeScript sources (tsx, tests) go through
 * worker-boot.mjs, which registers tsx's loader in the worker thread first.
 */
const WORKER_BOOT = import.meta.url.endsWith('.js') ? new URL('./point-worker.js', import.meta.url) : new URL('./worker-boot.mjs', import.meta.url);

export function defaultJobs(): number {
  return availableParallelism();
}

export async function runPoints(points: readonly ExperimentPoint[], ctx: PointContext, opts: { jobs?: number; onResult?: (o: PointOutcome) => void } = {}): Promise<PointOutcome[]> {
  const jobs = Math.max(1, Math.min(opts.jobs ?? defaultJobs(), points.length));
  const outcomes: PointOutcome[] = new Array(points.length);
  let next = 0;
  const runWorker = () =>
    new Promise<void>((resolve, reject) => {
      const worker = new Worker(WORKER_BOOT, { workerData: ctx });
      let current: { point: ExperimentPoint; startMs: number } | undefined;
      const feed = () => {
        const point = points[next++];
        if (point === undefined) {
          current = undefined;
          void worker.terminate().then(() => resolve());
          return;
        }
        current = { point, startMs: performance.now() };
        worker.postMessage({ index: point.index, params: point.params } satisfies ToWorker);
      };
      worker.on('message', (msg: FromWorker) => {
        if (current === undefined) return;
        const wallMs = Math.round(performance.now() - current.startMs);
        const outcome: PointOutcome = 'result' in msg ? { point: current.point, result: msg.result, error: null, wallMs } : { point: current.point, result: null, error: msg.error, wallMs };
        outcomes[current.point.index] = outcome;
        opts.onResult?.(outcome);
        feed();
      });
      worker.on('error', (err) => reject(err));
      worker.on('exit', (code) => {
        if (current !== undefined) reject(new Error(`an experiment worker exited (code ${code}) while running point ${current.point.index}`));
      });
      feed();
    });
  await Promise.all(Array.from({ length: jobs }, runWorker));
  return outcomes;
}
