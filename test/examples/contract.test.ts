/**
 * examples/contract is a vitest suite of its own (the project config collects only
 * test/**): run it through its config, as its README says, and require it to pass.
 */
import { describe, expect, it } from 'vitest';
import { runNode } from './run-example.js';

describe('examples/contract', () => {
  it('passes with its own vitest config', async () => {
    const r = await runNode(['node_modules/vitest/vitest.mjs', 'run', '--config', 'examples/contract/vitest.config.ts', '--reporter', 'verbose', '--color=false'], { NO_COLOR: '1' }, 120_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Tests\s+7 passed \(7\)/);
    expect(r.stdout).toContain('retries IN_USE (0x3A) with backoff and succeeds on the third attempt');
  });
});
