/**
 * The --state file: every platform's emu.dumpState document under one envelope,
 *   { "format": "smash-emu-saved-state", "version": 1, "platforms": { "<name>": state } }
 * ('' is the default platform at '/'). Reading never writes, so a file this build
 * cannot use is left exactly as it was; saving writes FILE.tmp-<pid>, flushes it to
 * disk and renames it over FILE, so FILE is always either the old or the new one.
 *
 * protocol/README.md §1.3: platforms are kept in a Map (a platform may be called
 * `__proto__` or `toString`), and the file is written one platform at a time: each
 * state is dumped, serialised and written before the next is dumped, so the file
 * may exceed V8's longest string, and a platform that cannot be serialised is left
 * out (and reported) without dropping the others.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { platformNameFromPath } from '../rpc/platforms.js';
import { describeFsError, failure } from './cli-error.js';

export const SAVED_STATE_FORMAT = 'smash-emu-saved-state';
export const SAVED_STATE_VERSION = 1;

/** Platform name ('' = default) -> state document. */
export type SavedPlatforms = Map<string, unknown>;

/** A state to save, or a function that dumps it when its turn comes (so only one is in memory at a time). */
export type StateSource = unknown;

/** What writeStateFile saved, and which platforms it had to leave out. */
export interface SaveReport {
  saved: string[];
  failed: Array<{ name: string; reason: string }>;
}

/** The saved platforms, or undefined when FILE does not exist yet (a first run). Throws a failure (exit 1) for anything unusable. */
export async function readStateFile(path: string): Promise<SavedPlatforms | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw failure(`--state ${path}: cannot read it (${describeFsError(err)})`);
  }
  return parseStateFile(text, path);
}

export function parseStateFile(text: string, path: string): SavedPlatforms {
  const bad = (why: string) => failure(`--state ${path}: ${why}; the file is left untouched: fix it, move it away, or pick another --state`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) throw bad(`expected a JSON object with "format": "${SAVED_STATE_FORMAT}"`);
  if (doc['format'] !== SAVED_STATE_FORMAT) throw bad(`"format" must be "${SAVED_STATE_FORMAT}", got ${JSON.stringify(doc['format'])}`);
  if (doc['version'] !== SAVED_STATE_VERSION) {
    throw bad(`"version" ${JSON.stringify(doc['version'])} is not supported (this build reads version ${SAVED_STATE_VERSION})`);
  }
  const platforms = doc['platforms'];
  if (!isObject(platforms)) throw bad('"platforms" must be an object: platform name -> state document from emu.dumpState');
  // Object.entries lists an own "__proto__" key too (JSON.parse makes it an own key).
  const out: SavedPlatforms = new Map();
  for (const [name, state] of Object.entries(platforms)) {
    if (platformNameFromPath(name === '' ? '/' : `/platforms/${name}`) !== name) {
      throw bad(`platform name ${JSON.stringify(name)} is not valid: use "" for the default platform or 1-64 characters [A-Za-z0-9_.-]`);
    }
    if (!isObject(state)) throw bad(`platforms[${JSON.stringify(name)}] must be a state document (an object from emu.dumpState)`);
    out.set(name, state);
  }
  return out;
}

export function tmpPathFor(path: string, pid: number = process.pid): string {
  return `${path}.tmp-${pid}`;
}

/**
 * Writes every platform's state atomically, one platform at a time (a function
 * value is called to dump it when its turn comes). A platform whose state cannot
 * be dumped or serialised is left out and listed in `failed`; when none can be, or
 * the file cannot be written, FILE is unchanged, the temporary file removed, and
 * this throws a failure (exit 1).
 */
export async function writeStateFile(path: string, platforms: ReadonlyMap<string, StateSource> | Record<string, StateSource>, pid: number = process.pid): Promise<SaveReport> {
  const entries = platforms instanceof Map ? [...platforms.entries()] : Object.entries(platforms);
  const report: SaveReport = { saved: [], failed: [] };
  const tmp = tmpPathFor(path, pid);
  try {
    const handle = await open(tmp, 'w');
    try {
      await handle.write(`{"format":${JSON.stringify(SAVED_STATE_FORMAT)},"version":${SAVED_STATE_VERSION},"platforms":{`);
      for (const [name, source] of entries) {
        let text: string;
        try {
          const state: unknown = typeof source === 'function' ? (source as () => unknown)() : source;
          text = JSON.stringify(state);
          if (typeof text !== 'string') throw new Error('the state is not a JSON value');
        } catch (err) {
          report.failed.push({ name, reason: (err as Error).message ?? String(err) });
          continue;
        }
        await handle.write(`${report.saved.length === 0 ? '' : ','}${JSON.stringify(name)}:`);
        await handle.write(text);
        report.saved.push(name);
      }
      await handle.write('}}\n');
      if (report.saved.length === 0 && report.failed.length > 0) throw new Unserialisable(report.failed);
      // Without the flush, a crash soon after the rename can leave FILE empty on some file systems.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    if (err instanceof Unserialisable) {
      throw failure(`--state ${path}: could not serialise the platform states (${err.message}); the previous file, if any, is unchanged`);
    }
    throw failure(`--state ${path}: could not save (${describeFsError(err)}); the previous file, if any, is unchanged`);
  }
  await syncDirectory(dirname(path));
  return report;
}

/** No platform could be serialised: nothing worth replacing FILE with. */
class Unserialisable extends Error {
  constructor(failed: SaveReport['failed']) {
    super(failed.map((f) => `${f.name === '' ? 'default platform' : f.name}: ${f.reason}`).join('; '));
  }
}

/** For a forced exit mid-save: removes a half-written temporary file, if any. */
export function removeTmpSync(path: string, pid: number = process.pid): void {
  try {
    unlinkSync(tmpPathFor(path, pid));
  } catch {
    // Nothing was being written.
  }
}

/** Makes the rename itself durable; best effort, as not every platform can open a directory. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The file is saved either way; only its survival of a power cut is less certain.
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
