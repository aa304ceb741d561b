/**
 * The --state file: every platform's emu.dumpState document under one envelope,
 *   { "format": "smash-emu-saved-state", "version": 1, "platforms": { "<name>": state } }
 * ('' is the default platform at '/'). Reading never writes, so a file this build
 * cannot use is left exactly as it was; saving writes FILE.tmp-<pid>, flushes it to
 * disk and renames it over FILE, so FILE is always either the old or the new one.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { platformNameFromPath } from '../rpc/platforms.js';
import { describeFsError, failure } from './cli-error.js';

export const SAVED_STATE_FORMAT = 'smash-emu-saved-state';
export const SAVED_STATE_VERSION = 1;

export type SavedPlatforms = Record<string, unknown>;

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
  for (const [name, state] of Object.entries(platforms)) {
    if (platformNameFromPath(name === '' ? '/' : `/platforms/${name}`) !== name) {
      throw bad(`platform name ${JSON.stringify(name)} is not valid: use "" for the default platform or 1-64 characters [A-Za-z0-9_.-]`);
    }
    if (!isObject(state)) throw bad(`platforms[${JSON.stringify(name)}] must be a state document (an object from emu.dumpState)`);
  }
  return platforms;
}

export function tmpPathFor(path: string, pid: number = process.pid): string {
  return `${path}.tmp-${pid}`;
}

/** Writes every platform's state atomically; on failure FILE is unchanged and the temporary file removed. */
export async function writeStateFile(path: string, platforms: SavedPlatforms, pid: number = process.pid): Promise<void> {
  let text: string;
  try {
    // Serialised before any file is touched, so a document JSON cannot hold changes nothing.
    text = JSON.stringify({ format: SAVED_STATE_FORMAT, version: SAVED_STATE_VERSION, platforms }) + '\n';
  } catch (err) {
    throw failure(`--state ${path}: could not serialise the platform states (${(err as Error).message}); the previous file, if any, is unchanged`);
  }
  const tmp = tmpPathFor(path, pid);
  try {
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(text, 'utf8');
      // Without the flush, a crash soon after the rename can leave FILE empty on some file systems.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw failure(`--state ${path}: could not save (${describeFsError(err)}); the previous file, if any, is unchanged`);
  }
  await syncDirectory(dirname(path));
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
