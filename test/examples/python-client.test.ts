/**
 * The Python package through the real server: Debian's python3-pytest runs
 * clients/python's tests, whose session fixture starts `smash-emu serve --port 0
 * --unix PATH` from this checkout and whose function fixture gives each test a
 * platform of its own. Every test must pass and none may be skipped; a missing
 * /usr/bin/python3 or pytest fails here (.ci/run installs python3-pytest). The
 * README's pytest example is clients/python/tests/test_readme.py, word for word.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT, cleanEnv } from '../helpers/processes.js';
import { readmeBlocks } from '../helpers/readme-blocks.js';

const PY_TESTS = join(ROOT, 'clients/python/tests');

/** Test functions in the package's test files, parametrized ones counted per case. */
function expectedTests(): number {
  let n = 0;
  for (const file of readdirSync(PY_TESTS).filter((f) => /^test_.*\.py$/.test(f))) {
    const text = readFileSync(join(PY_TESTS, file), 'utf8');
    for (const m of text.matchAll(/(?:@pytest\.mark\.parametrize\("\w+", \[([^\]]*)\]\)\n)?def test_/g)) n += m[1] === undefined ? 1 : m[1].split(',').length;
  }
  return n;
}

it('README "From Python" shows clients/python/tests/test_readme.py exactly, a test of ten lines', () => {
  const py = readmeBlocks('## From Python').filter((b) => b.lang === 'python');
  expect(py).toHaveLength(1);
  const file = readFileSync(join(PY_TESTS, 'test_readme.py'), 'utf8');
  expect(py[0]?.body).toBe(file);
  expect(file.trimEnd().split('\n').length).toBeLessThanOrEqual(12);
});

it('clients/python: every pytest test passes against a real smash-emu serve, none skipped', async () => {
  const env = cleanEnv({ SMASH_EMU_NODE: process.execPath, PYTHONDONTWRITEBYTECODE: '1' });
  const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const p = spawn('/usr/bin/python3', ['-m', 'pytest', 'clients/python', '-v', '-rA'], { cwd: ROOT, env });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.once('error', (err) => reject(new Error(`/usr/bin/python3 could not run (${err.message}): install python3-pytest (.ci/run does)`)));
    p.once('close', (code) => resolve({ code, out }));
  });
  expect(r.out).not.toMatch(/No module named pytest/);
  expect(r.code, r.out).toBe(0);
  const summary = /=+ (.*) in [\d.]+s/.exec(r.out)?.[1] ?? '';
  expect(summary, r.out).toBe(`${expectedTests()} passed`);
  expect(r.out).toContain('test_readme.py::test_psmash_io_splits_the_2mb_leaf PASSED');
}, 180_000);

it('clients/python is typed: mypy --strict finds nothing in the package, its plugin and its tests', () => {
  const r = spawnSync('/usr/bin/python3', ['-m', 'mypy', '--strict', '--no-incremental', '--cache-dir', '/dev/null', 'src', 'tests', 'conftest.py'], { cwd: join(ROOT, 'clients/python'), encoding: 'utf8' });
  expect(r.error).toBeUndefined();
  expect(r.stdout + r.stderr).not.toMatch(/No module named mypy/);
  expect(r.stdout, r.stderr).toMatch(/^Success: no issues found in \d+ source files/);
  expect(r.status).toBe(0);
}, 180_000);
