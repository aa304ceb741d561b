/**
 * A worker thread of the experiment pool: runs the points it is sent, one at a
 * time, each on its own platform, and posts each result back. A point that throws
 * is reported as its error (the pool records it and goes on).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runPoint, type PointContext } from './run-point.js';
import type { ToWorker, FromWorker } from './worker-pool.js';

const port = parentPort;
if (port === null) throw new Error('point-worker.ts runs as a worker thread (see worker-pool.ts)');
const ctx = workerData as PointContext;

port.on('message', (msg: ToWorker) => {
  void runPoint(msg.params, ctx).then(
    (result) => port.postMessage({ index: msg.index, result } satisfies FromWorker),
    (err: unknown) => port.postMessage({ index: msg.index, error: err instanceof Error ? err.message : String(err) } satisfies FromWorker),
  );
});
