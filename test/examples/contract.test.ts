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
    expect(r.stdout).toMatch(/Tests\s+8 passed \(8\)/);
    expect(r.stdout).toContain('retries RESOURCE_NOT_AVAILABLE (0x17) injected on tmpm.PSMASH_IO and succeeds on the third attempt');
    expect(r.stdout).toContain("rides out a full ring (-32003, the driver's -EAGAIN)");
  });
});
