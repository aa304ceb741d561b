/**
 * The package as users get it: the checkout built the way `npm ci` builds it, packed
 * with `npm pack`, and installed from that tarball into an empty folder outside the
 * checkout (so nothing resolves from the checkout's node_modules) with production
 * dependencies only (`npm install --omit=dev`, offline from the cache `npm ci` filled).
 *
 * Built and packed once per run, whichever test file asks first: a lock directory
 * serialises test files that run at once, and an install is kept in the system's
 * temp folder under the tarball's checksum, so an unchanged package is not installed
 * again. The build runs only when dist/ is older than src/ (as bin/smash-emu.mjs
 * judges it), so `npm ci` followed by `npm test` builds nothing twice.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, cleanEnv } from './processes.js';

const run = promisify(execFile);

export interface InstalledPackage {
  /** The folder it was installed into (package.json + node_modules only). */
  dir: string;
  /** node_modules/.bin/smash-emu: the command a user's scripts run. */
  bin: string;
  /** node_modules/smash-emu: what the tarball unpacked to. */
  packageDir: string;
  /** Paths in the tarball, as `npm pack` listed them. */
  files: string[];
}

/** Newest modification time under `dir`, in ms. */
function newest(dir: string): number {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const t = entry.isDirectory() ? newest(path) : statSync(path).mtimeMs;
    if (t > max) max = t;
  }
  return max;
}

/** True when dist/ holds a build of the current src/ with the dashboard beside it. */
function builtFresh(): boolean {
  const main = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) return false;
  const since = statSync(main).mtimeMs;
  if (newest(join(ROOT, 'src')) > since) return false;
  for (const file of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/copy-assets.mjs']) if (statSync(join(ROOT, file)).mtimeMs > since) return false;
  const pages = join(ROOT, 'src', 'dashboard');
  return readdirSync(pages).every((f) => existsSync(join(ROOT, 'dist', 'src', 'dashboard', f)) && readFileSync(join(pages, f)).equals(readFileSync(join(ROOT, 'dist', 'src', 'dashboard', f))));
}

/** Runs `fn` while holding ROOT/.tmp/package.lock (test files in other workers wait). */
async function locked<T>(fn: () => Promise<T>): Promise<T> {
  const lock = join(ROOT, '.tmp', 'package.lock');
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock left by a killed run is taken over after 15 minutes.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: cleanEnv(), maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** `npm run build` when dist/ is stale: what `npm ci` (prepare) leaves in a checkout. */
export function ensureBuilt(): Promise<void> {
  return locked(async () => {
    if (!builtFresh()) await npm(['run', 'build'], ROOT);
  });
}

let installed: Promise<InstalledPackage> | undefined;

/** The tarball of this checkout, installed into an empty folder (once per run and package). */
export function installedPackage(): Promise<InstalledPackage> {
  installed ??= locked(async () => {
    if (!builtFresh()) await npm(['run', 'build'], ROOT);
    const packDir = mkdtempSync(join(tmpdir(), 'smash-emu-pack-'));
    try {
      // Built just now or before: packing need not run prepare (the build) again.
      const [info] = JSON.parse(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], ROOT)) as { filename: string; shasum: string; files: { path: string }[] }[];
      if (info === undefined) throw new Error('npm pack listed no tarball');
      const files = info.files.map((f) => f.path);
      const dir = join(tmpdir(), `smash-emu-installed-${info.shasum}`);
      if (!existsSync(join(dir, '.complete'))) {
        const work = mkdtempSync(join(tmpdir(), 'smash-emu-installing-'));
        writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'smash-emu-user', version: '1.0.0', private: true }));
        await npm(['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', join(packDir, info.filename)], work);
        writeFileSync(join(work, '.complete'), info.shasum);
        rmSync(dir, { recursive: true, force: true });
        renameSync(work, dir);
      }
      return { dir, bin: join(dir, 'node_modules', '.bin', 'smash-emu'), packageDir: join(dir, 'node_modules', 'smash-emu'), files };
    } finally {
      rmSync(packDir, { recursive: true, force: true });
    }
  });
  return installed;
}
