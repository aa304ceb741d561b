import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Socket tests start servers on 127.0.0.1:0; 2-core CI machines are slow.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
