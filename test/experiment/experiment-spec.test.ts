import { describe, expect, it } from 'vitest';
import { MAX_POINTS, parseExperimentSpec, pointCount } from '../../src/experiment/experiment-spec.js';
import { expandGrid, sweptAxes } from '../../src/experiment/grid.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { EmuError } from '../../src/util/emu-error.js';

function problems(doc: unknown): { path: string; message: string }[] {
  try {
    parseExperimentSpec(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(EmuError);
    return ((e as EmuError).detail as { issues: { path: string; message: string }[] }).issues;
  }
  throw new Error('the spec was accepted');
}

describe('parseExperimentSpec', () => {
  it('fills every default: one engine point on the default scenario with the default stall model', () => {
    const spec = parseExperimentSpec({ name: 'defaults' });
    expect(pointCount(spec)).toBe(1);
    expect(spec.scenario).toBe(DEFAULT_SCENARIO);
    expect(spec.target).toEqual({ deviceId: 0x0100, domainId: 1, iovaBase: 0x20_0000n });
    expect(spec.timing).toEqual({ warmupNs: 1_000_000, gapNs: 1_000_000, settleNs: 1_000_000 });
    const [point] = expandGrid(spec);
    expect(point?.params).toEqual({
      sequence: 'engine',
      windowNs: null,
      stall: { baseNs: 2_000_000, perEntryNs: 0, jitter: { dist: 'uniform', spreadNs: 500_000 }, scope: 'domain', policy: 'hold', completionTimeoutNs: 50_000_000 },
      dma: { ratePerSec: 1e6, pattern: 'random', accessBytes: 64, arrival: 'fixed', writeRatio: 0.5 },
      smashes: 1,
      tdiCycles: 0,
      seed: DEFAULT_SCENARIO.seed,
      clock: { mode: 'virtual', speed: 1 },
    });
  });

  it('a list is a swept axis: the grid is every combination, the first axis varying slowest', () => {
    const spec = parseExperimentSpec({ name: 'grid', sequence: ['manual', 'engine'], windowNs: [10_000, 20_000, 30_000], dma: { ratePerSec: [1e5, 1e6] }, seed: 7 });
    expect(sweptAxes(spec)).toEqual(['sequence', 'windowNs', 'dma.ratePerSec']);
    const points = expandGrid(spec);
    expect(points).toHaveLength(12);
    expect(points.map((p) => p.index)).toEqual([...Array(12).keys()]);
    expect(points[0]?.swept).toEqual({ sequence: 'manual', windowNs: 10_000, 'dma.ratePerSec': 1e5 });
    expect(points[11]?.swept).toEqual({ sequence: 'engine', windowNs: 30_000, 'dma.ratePerSec': 1e6 });
    // windowNs is the engine's stall length, with nothing added per PTE.
    expect(points[11]?.params.stall.baseNs).toBe(30_000);
    expect(points[11]?.params.stall.perEntryNs).toBe(0);
    expect(points.every((p) => p.params.seed === 7)).toBe(true);
  });

  it('takes a clock mode with a speed', () => {
    const spec = parseExperimentSpec({ name: 'clock', clock: ['virtual', { mode: 'realtime', speed: 100 }] });
    expect(expandGrid(spec).map((p) => p.params.clock)).toEqual([
      { mode: 'virtual', speed: 1 },
      { mode: 'realtime', speed: 100 },
    ]);
  });

  it('names the key of a bad value, in a single value and inside a list, with what is allowed', () => {
    expect(problems({ name: 'x', dma: { ratePerSec: -5 } })).toEqual([{ path: 'spec.dma.ratePerSec', message: 'must be > 0 requests per second' }]);
    expect(problems({ name: 'x', dma: { ratePerSec: [1e6, 0] } })).toEqual([{ path: 'spec.dma.ratePerSec[1]', message: 'must be > 0 requests per second' }]);
    const [dist] = problems({ name: 'x', stall: { jitter: { dist: 'gauss' } } });
    expect(dist?.path).toBe('spec.stall.jitter.dist');
    expect(dist?.message).toContain('fix: use one of "none", "uniform", "normal", "lognormal"');
    expect(problems({ name: 'x', smashes: 1000 })).toEqual([{ path: 'spec.smashes', message: 'must be an integer 1..256' }]);
    expect(problems({ name: 'x', windowNs: [] })[0]?.message).toContain('fix: give at least one value');
  });

  it('names a misspelt key and a missing name', () => {
    expect(problems({ name: 'x', dma: { rate: 1e6 } })).toEqual([{ path: 'spec.dma.rate', message: 'unknown key; fix: remove it or correct its spelling (keys are case-sensitive)' }]);
    expect(problems({})).toEqual([{ path: 'spec.name', message: 'is required' }]);
  });

  it('refuses windowNs with stall.baseNs, and the manual sequence without a window, saying which to change', () => {
    expect(problems({ name: 'x', windowNs: 1000, stall: { baseNs: 5000 } })[0]).toEqual({
      path: 'spec.stall.baseNs',
      message: "cannot be set together with windowNs, which sets the engine's stall length; fix: remove one of them",
    });
    expect(problems({ name: 'x', sequence: 'manual' })[0]?.path).toBe('spec.windowNs');
    expect(problems({ name: 'x', sequence: 'manual' })[0]?.message).toContain('fix: add "windowNs"');
  });

  it("refuses a sweep whose longest stall passes the engine's 10 s limit, before any point runs", () => {
    const [tooLong] = problems({ name: 'x', stall: { baseNs: [1_000_000, 9_000_000_000], jitter: { dist: 'uniform', spreadNs: 500_000_000 } } });
    expect(tooLong?.path).toBe('spec.stall');
    expect(tooLong?.message).toContain('allows stalls up to 11000000000 ns');
    expect(tooLong?.message).toContain('fix: shorter stalls');
    expect(() => parseExperimentSpec({ name: 'x', sequence: 'manual', windowNs: 9_000_000_000 })).not.toThrow();
  });

  it('checks an inline scenario with the scenario rules, and refuses a grid past MAX_POINTS', () => {
    const [bad] = problems({ name: 'x', scenario: { seed: -1 } });
    expect(bad?.path).toBe('spec.scenario');
    expect(bad?.message).toContain('scenario.seed');
    const big = Array.from({ length: 101 }, (_, i) => i + 1);
    const [tooMany] = problems({ name: 'x', seed: big, smashes: big });
    expect(tooMany?.message).toContain(`expands to ${101 * 101} points, more than ${MAX_POINTS}`);
  });
});
