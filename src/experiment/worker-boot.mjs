// Entry of an experiment worker thread: registers tsx's loader in this thread (the
// runner is TypeScript, and a worker does not inherit a loader registered in the
// parent), then runs point-worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./point-worker.ts');
