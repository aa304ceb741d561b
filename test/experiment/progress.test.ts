import { describe, expect, it } from 'vitest';
import { parseExperimentSpec } from '../../src/experiment/experiment-spec.js';
import { expandGrid } from '../../src/experiment/grid.js';
import { Progress } from '../../src/experiment/progress.js';
import type { PointOutcome } from '../../src/experiment/worker-pool.js';

const points = expandGrid(parseExperimentSpec({ name: 'p', dma: { ratePerSec: [1e5, 1e6] } }));
const outcome = (i: number, error: string | null = null): PointOutcome => ({
  point: points[i]!,
  result: error === null ? ({ held: 3, faults: 0, timeouts: 0, latencyNs: { p99: 800 } } as PointOutcome['result']) : null,
  error,
  wallMs: 5,
});

describe('Progress', () => {
  it('on a terminal redraws one bar in place', () => {
    let text = '';
    const p = new Progress(2, { isTTY: true, columns: 80, write: (s: string) => (text += s) });
    p.start(2);
    p.point(outcome(0));
    p.point(outcome(1));
    p.finish();
    const frames = text.split('\r\x1b[K').slice(1);
    expect(frames[0]).toMatch(/^\[-{30}\] 0\/2 points 0%/);
    expect(frames[1]).toMatch(/^\[#{15}-{15}\] 1\/2 points 50%/);
    expect(frames[2]).toMatch(/^\[#{30}\] 2\/2 points 100%/);
    expect(frames.every((f) => f.split('\n')[0]!.length < 80)).toBe(true);
    expect(text).toMatch(/experiment: 2 points in \d+\.\d s\n$/);
  });

  it('elsewhere writes one line per point, failures with their reason', () => {
    let text = '';
    const p = new Progress(2, { write: (s: string) => (text += s) });
    p.start(1);
    p.point(outcome(0));
    p.point(outcome(1, 'boom'));
    p.finish();
    expect(text.split('\n')).toEqual([
      'experiment: 2 points on 1 worker thread',
      'point 1/2 (#0 dma.ratePerSec=100000) in 5 ms: held 3, faults 0, timeouts 0, p99 800 ns',
      'point 2/2 (#1 dma.ratePerSec=1000000) in 5 ms: FAILED: boom',
      expect.stringMatching(/^experiment: 2 points in \d+\.\d s, 1 failed$/),
      '',
    ]);
    expect(text).not.toContain('\r');
  });
});
