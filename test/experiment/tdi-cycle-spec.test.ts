/**
 * examples/experiments/tdi-cycle.json runs whole: a bind/unbind cycle of the target's
 * TDI under DMA is a swept axis (tdiCycles), and no request completes while the
 * device is unbound.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExperimentSpec, readExperimentSpec } from '../../src/experiment/experiment-spec.js';
import { runExperiment } from '../../src/experiment/run-experiment.js';
import { testOutputPath } from '../helpers/browser.js';

describe('examples/experiments/tdi-cycle.json', () => {
  it('sweeps tdiCycles under DMA: faults only while unbound, nothing leaks, every cycle succeeds', async () => {
    const run = await runExperiment(readExperimentSpec('examples/experiments/tdi-cycle.json'), testOutputPath('experiments/tdi-cycle'));
    expect(run.failed).toBe(0);
    const points = run.results.points;
    expect(points).toHaveLength(8); // 2 rates x 2 cycle counts x 2 seeds
    for (const pt of points) {
      expect(pt.tdiFailures).toBe(0);
      expect(pt.tdiUnboundCompleted).toBe(0);
      // 200 us unbound per cycle (plus the commands' own time): at least rate x 200 us x cycles faults.
      expect(pt.tdiUnboundFaults as number).toBeGreaterThanOrEqual(Math.floor(pt['dma.ratePerSec'] * 200e-6 * pt.tdiCycles * 0.8));
      // The rest of the faults fall inside the unbind and bind commands themselves (the TDI not in RUN).
      expect(pt.rmpFaults as number).toBeGreaterThanOrEqual(pt.tdiUnboundFaults as number);
      expect(pt.smashFailures).toBe(0);
    }
    const one = points.find((p) => p.tdiCycles === 1 && p['dma.ratePerSec'] === 1e6 && p.seed === 1)!;
    const three = points.find((p) => p.tdiCycles === 3 && p['dma.ratePerSec'] === 1e6 && p.seed === 1)!;
    expect(three.tdiUnboundFaults as number).toBeGreaterThan(2 * (one.tdiUnboundFaults as number));
    const csv = readFileSync(run.files.csv, 'utf8').split('\n')[0]!.split(',');
    expect(csv).toEqual(expect.arrayContaining(['tdiCycles', 'tdiUnboundFaults', 'tdiUnboundCompleted', 'tdiFailures']));
  }, 120_000);

  it('refuses a tdiCycles outside 0..64, naming the key', () => {
    expect(() => parseExperimentSpec({ name: 'x', tdiCycles: 65 }, '.')).toThrow(/tdiCycles/);
  });
});
