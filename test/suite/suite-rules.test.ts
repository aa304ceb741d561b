/**
 * The suite's own rules: a test skips only through test/helpers/skips.ts (which
 * prints why, and fails instead under REQUIRE_* or CI), and fast-check runs on the
 * run's printed seed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { required } from '../helpers/skips.js';
import { runSeed, runsScale } from '../helpers/fc-seed.js';

const TEST_DIR = fileURLToPath(new URL('..', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'vectors' || name === 'output' ? [] : testFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

describe('the suite', () => {
  it('skips only through test/helpers/skips.ts: no it.skip, describe.skip, skipIf, runIf, todo or ctx.skip elsewhere', () => {
    const raw = /\b(?:it|test|describe)\s*\.\s*(?:skip|skipIf|runIf|todo|only)\b|\b(?:ctx|context)\s*\.\s*skip\s*\(/;
    const offenders = testFiles(TEST_DIR)
      .filter((f) => !f.endsWith(join('helpers', 'skips.ts')) && !f.endsWith(join('suite', 'suite-rules.test.ts')))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .flatMap((line, i) => (raw.test(line) ? [`${relative(TEST_DIR, f)}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(offenders).toEqual([]);
  });

  it('requires what CI requires: REQUIRE_BROWSER=1, REQUIRE_BUILD=1, or CI=true for every flag', () => {
    expect(required('REQUIRE_BROWSER', {})).toBe(false);
    expect(required('REQUIRE_BROWSER', { REQUIRE_BROWSER: '1' })).toBe(true);
    expect(required('REQUIRE_BUILD', { REQUIRE_BROWSER: '1' })).toBe(false);
    expect(required('REQUIRE_BUILD', { REQUIRE_BUILD: '1' })).toBe(true);
    expect(required('REQUIRE_BUILD', { CI: 'true' })).toBe(true);
    expect(required('REQUIRE_BROWSER', { CI: 'false' })).toBe(false);
  });

  it("runs fast-check on the run's seed (SMASH_EMU_SEED, printed at the start) and scales runs by SMASH_EMU_RUNS_SCALE", () => {
    expect(fc.readConfigureGlobal().seed).toBe(runSeed());
    expect(runSeed({ SMASH_EMU_SEED: '12345' })).toBe(12345);
    expect(() => runSeed({ SMASH_EMU_SEED: 'abc' })).toThrow(/SMASH_EMU_SEED must be an integer/);
    expect(runsScale({})).toBe(1);
    expect(runsScale({ SMASH_EMU_RUNS_SCALE: '4' })).toBe(4);
    expect(() => runsScale({ SMASH_EMU_RUNS_SCALE: '0' })).toThrow(/positive/);
  });
});
