// The build's second step: tsc compiles src/ into dist/src/ but copies only what it
// compiles, so the dashboard's page, script and style (src/dashboard/) are copied here
// beside the compiled server that serves them (dist/src/observe/expose/dashboard-files.js reads
// ../../dashboard/). `npm run build` (and `prepare`, so `npm ci` and `npm pack`) runs it.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../src/dashboard/', import.meta.url));
const to = fileURLToPath(new URL('../dist/src/dashboard/', import.meta.url));
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
