/**
 * The one way a test may skip: `needs(what, reason, flag)` gives the `describe` or
 * `it` to use. Where the thing is there (`reason` undefined) the tests run. Where it
 * is not, they skip and the reason is printed; but under `flag=1` (`.ci/run` sets
 * REQUIRE_BROWSER=1 and REQUIRE_BUILD=1) or CI=true a skip would let CI pass with a
 * feature unchecked, so the tests are replaced by one that fails with the reason.
 * `.ci/run` prints the skipped count in its closing line.
 */
import { describe, it } from 'vitest';

/** The flags `.ci/run` sets; CI=true requires them all. */
export type RequireFlag = 'REQUIRE_BROWSER' | 'REQUIRE_BUILD';

/** True when a missing `flag` must fail rather than skip. */
export function required(flag: RequireFlag, env: NodeJS.ProcessEnv = process.env): boolean {
  return env[flag] === '1' || env['CI'] === 'true';
}

export interface Gate {
  describe: (name: string, fn: () => void) => void;
  it: (name: string, fn: () => Promise<unknown> | unknown, timeoutMs?: number) => void;
  /** Whether the tests behind this gate run. */
  runs: boolean;
}

/**
 * The `describe` / `it` for tests that need `what`: `reason` says why it is missing
 * (undefined when it is there).
 */
export function needs(what: string, reason: string | undefined, flag: RequireFlag, env: NodeJS.ProcessEnv = process.env): Gate {
  if (reason === undefined) return { describe, it: (name, fn, timeoutMs) => it(name, fn, timeoutMs), runs: true };
  const message = `${what}: ${reason}`;
  if (required(flag, env)) {
    const fail = (name: string): void =>
      it(`${name} (needs ${what})`, () => {
        throw new Error(`${flag}=1${env['CI'] === 'true' ? ' / CI=true' : ''}: cannot skip, ${message}`);
      });
    return { describe: (name) => describe(name, () => fail(name)), it: (name) => fail(name), runs: false };
  }
  console.log(`skipped (${flag}=1 or CI=true would fail instead): ${message}`);
  return {
    describe: (name, fn) => describe.skip(`${name} [skipped: ${message}]`, fn),
    it: (name, fn, timeoutMs) => it.skip(`${name} [skipped: ${message}]`, fn, timeoutMs),
    runs: false,
  };
}
