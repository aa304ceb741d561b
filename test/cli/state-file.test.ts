/**
 * The --state file: read without writing, so a corrupt file stays byte-identical;
 * saved through FILE.tmp-<pid> and a rename (README.md "Configuration", `--state`).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/cli-error.js';
import { readStateFile, removeTmpSync, SAVED_STATE_FORMAT, tmpPathFor, writeStateFile } from '../../src/cli/state-file.js';

const dir = mkdtempSync(join(tmpdir(), 'smash-emu-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function fresh(): string {
  return join(dir, `state-${++n}.json`);
}

async function refusal(promise: Promise<unknown>): Promise<CliError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error('expected a CliError');
}

describe('state file', () => {
  it('reads nothing, and writes nothing, when the file does not exist yet', async () => {
    const path = fresh();
    expect(await readStateFile(path)).toBeUndefined();
    expect(existsSync(path)).toBe(false);
  });

  it('round-trips every platform, the default one as ""', async () => {
    const path = fresh();
    const platforms = { '': { format: 'smash-emu-state', clock: { nowNs: 5 } }, 'lab.1': { format: 'smash-emu-state', clock: { nowNs: 7 } } };
    await writeStateFile(path, platforms);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ format: SAVED_STATE_FORMAT, version: 1, platforms });
    expect(await readStateFile(path)).toEqual(new Map(Object.entries(platforms)));
  });

  it('replaces the file through FILE.tmp-<pid> and leaves no temporary file behind', async () => {
    const path = fresh();
    writeFileSync(path, 'old');
    await writeStateFile(path, { '': {} }, 4242);
    expect(tmpPathFor(path, 4242)).toBe(`${path}.tmp-4242`);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(JSON.parse(readFileSync(path, 'utf8')).platforms).toEqual({ '': {} });
  });

  it('fails with exit code 1 and leaves the old file when the state cannot be serialised', async () => {
    const path = fresh();
    writeFileSync(path, 'old');
    const err = await refusal(writeStateFile(path, { '': { big: 1n } }));
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/^--state .+: could not serialise the platform states \(.+\); the previous file, if any, is unchanged$/);
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(existsSync(tmpPathFor(path))).toBe(false);
  });

  it('saves the other platforms when one cannot be serialised, and says which (issue 14 item 6)', async () => {
    const path = fresh();
    const report = await writeStateFile(
      path,
      new Map<string, unknown>([
        ['a', { n: 1 }],
        ['bad', { big: 1n }],
        ['c', () => ({ n: 3 })],
        [
          'worse',
          () => {
            throw new Error('dump failed');
          },
        ],
      ]),
    );
    expect(report.saved).toEqual(['a', 'c']);
    expect(report.failed.map((f) => f.name)).toEqual(['bad', 'worse']);
    expect(report.failed[1]!.reason).toBe('dump failed');
    expect(JSON.parse(readFileSync(path, 'utf8')).platforms).toEqual({ a: { n: 1 }, c: { n: 3 } });
  });

  it('dumps each platform only when its turn comes: the ones before it are already in the file', async () => {
    const path = fresh();
    const seen: number[] = [];
    const source = (n: number) => () => {
      seen.push(readFileSync(tmpPathFor(path), 'utf8').length);
      return { n, pad: 'p'.repeat(10_000) };
    };
    await writeStateFile(
      path,
      new Map([
        ['a', source(1)],
        ['b', source(2)],
        ['c', source(3)],
      ]),
    );
    expect(seen[1]!).toBeGreaterThan(seen[0]! + 10_000);
    expect(seen[2]!).toBeGreaterThan(seen[1]! + 10_000);
    expect(Object.keys(JSON.parse(readFileSync(path, 'utf8')).platforms)).toEqual(['a', 'b', 'c']);
  });

  it('keeps platforms named after Object.prototype keys (issue 14 item 8)', async () => {
    const path = fresh();
    const names = ['__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'constructor'];
    const platforms = new Map(names.map((name, i) => [name, { i }] as [string, unknown]));
    await writeStateFile(path, platforms);
    const back = await readStateFile(path);
    expect([...back!.keys()]).toEqual(names);
    expect(back!.get('__proto__')).toEqual({ i: 0 });
    expect(back!.get('toString')).toEqual({ i: 1 });
  });

  it('fails with exit code 1 when the directory is gone, naming the reason', async () => {
    const path = join(dir, 'gone', 'state.json');
    const err = await refusal(writeStateFile(path, { '': {} }));
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(`--state ${path}: could not save (no such file or directory, ENOENT); the previous file, if any, is unchanged`);
  });

  it('removes a half-written temporary file on a forced exit, and ignores a missing one', () => {
    const path = fresh();
    writeFileSync(tmpPathFor(path, 77), 'half');
    removeTmpSync(path, 77);
    expect(existsSync(tmpPathFor(path, 77))).toBe(false);
    expect(() => removeTmpSync(path, 77)).not.toThrow();
  });

  const envelope = (extra: object) => JSON.stringify({ format: SAVED_STATE_FORMAT, version: 1, platforms: {}, ...extra });
  it.each([
    ['bad JSON', '{"format": "smash-emu-saved-state", ', /not valid JSON \(.+\)/],
    ['an empty file', '', /not valid JSON/],
    ['an array', '[]', /expected a JSON object with "format": "smash-emu-saved-state"/],
    ['a bare state document', JSON.stringify({ format: 'smash-emu-state', version: 1 }), /"format" must be "smash-emu-saved-state", got "smash-emu-state"/],
    ['another version', envelope({ version: 2 }), /"version" 2 is not supported \(this build reads version 1\)/],
    ['platforms missing', envelope({ platforms: undefined }), /"platforms" must be an object/],
    ['a bad platform name', envelope({ platforms: { '../x': {} } }), /platform name "..\/x" is not valid/],
    ['a state that is not an object', envelope({ platforms: { a: 'x' } }), /platforms\["a"\] must be a state document/],
  ])('refuses %s with exit code 1 and leaves it byte-identical', async (_what, text, why) => {
    const path = fresh();
    writeFileSync(path, text);
    const err = await refusal(readStateFile(path));
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(why);
    expect(err.message).toMatch(new RegExp(`^--state ${path}: .*; the file is left untouched: fix it, move it away, or pick another --state$`));
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('refuses a --state path that is a directory, with exit code 1', async () => {
    const err = await refusal(readStateFile(dir));
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(`--state ${dir}: cannot read it (it is a directory, EISDIR)`);
  });
});
