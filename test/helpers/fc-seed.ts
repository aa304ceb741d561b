/**
 * One seed for every fast-check property of a run (vitest setupFiles): SMASH_EMU_SEED
 * when set (to replay a failure), else the one `fc-global-setup.ts` picked from the
 * time and printed. fast-check names the seed and path of any counterexample;
 * `runs(n)` scales a property's run count by SMASH_EMU_RUNS_SCALE (`.ci/run` sets 4).
 */
import fc from 'fast-check';

/** The run's seed: SMASH_EMU_SEED (set by the global setup when the caller gave none). */
export function runSeed(env: NodeJS.ProcessEnv = process.env): number {
  const text = env['SMASH_EMU_SEED'];
  const seed = Number(text);
  if (text === undefined || text === '' || !Number.isSafeInteger(seed)) throw new Error(`SMASH_EMU_SEED must be an integer, got ${JSON.stringify(text)}`);
  return seed | 0;
}

/** How many times more runs than a local run (SMASH_EMU_RUNS_SCALE, default 1). */
export function runsScale(env: NodeJS.ProcessEnv = process.env): number {
  const scale = Number(env['SMASH_EMU_RUNS_SCALE'] ?? 1);
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`SMASH_EMU_RUNS_SCALE must be a positive number, got ${JSON.stringify(env['SMASH_EMU_RUNS_SCALE'])}`);
  return scale;
}

/** `n` runs scaled by SMASH_EMU_RUNS_SCALE. */
export function runs(n: number): number {
  return Math.max(1, Math.round(n * runsScale()));
}

fc.configureGlobal({ seed: runSeed() });
