import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Socket tests start servers on 127.0.0.1:0; 2-core CI machines are slow.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One fast-check seed per run, picked and printed once, replayable with SMASH_EMU_SEED.
    globalSetup: ['test/helpers/fc-global-setup.ts'],
    setupFiles: ['test/helpers/fc-seed.ts'],
  },
});
