#!/usr/bin/env node
// The smash-emu command, in this process: no wrapper process, so a signal sent to
// the PID a user started reaches the server itself (SIGTERM saves --state).
//
// It runs the JavaScript that `npm ci` / `npm install` builds into dist/ (the
// `prepare` script; a call starts in well under 300 ms). In a checkout where dist/
// is missing or older than a file under src/ (edited since the last build), it
// runs the TypeScript through tsx's loader instead, in this process too: slower to
// start, never stale. `npm run build` makes it fast again.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'src', 'cli', 'main.js');

/** Newest modification time of a file under `dir`, in ms. */
function newest(dir) {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const t = entry.isDirectory() ? newest(path) : statSync(path).mtimeMs;
    if (t > max) max = t;
  }
  return max;
}

function fresh() {
  if (!existsSync(built)) return false;
  const src = join(root, 'src');
  // An installed package may ship dist/ without src/: then dist is all there is.
  return !existsSync(src) || statSync(built).mtimeMs >= newest(src);
}

if (fresh()) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
}
