/**
 * Picks the run's fast-check seed once (vitest globalSetup, before the workers start,
 * which inherit it) and prints it, so a failure can be replayed with SMASH_EMU_SEED=N.
 */
export default function setup(): void {
  if (process.env['SMASH_EMU_SEED'] === undefined || process.env['SMASH_EMU_SEED'] === '') {
    // Wall time picks the seed (the one place a test run reads it for randomness); printed below.
    process.env['SMASH_EMU_SEED'] = String(Date.now() % 2_147_483_647);
  }
  const scale = process.env['SMASH_EMU_RUNS_SCALE'] ?? '1';
  console.log(`fast-check seed ${process.env['SMASH_EMU_SEED']} (replay a failure: SMASH_EMU_SEED=${process.env['SMASH_EMU_SEED']} npx vitest run FILE), runs x${scale}`);
}
