/**
 * The shipped specs (examples/experiments) run whole, as `smash-emu experiment`
 * runs them, and answer the seed thread's two questions; their HTML reports open in
 * a real headless Chromium with every chart drawn (screenshots in test/output).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { readExperimentSpec } from '../../src/experiment/experiment-spec.js';
import { runExperiment, type ExperimentRun } from '../../src/experiment/run-experiment.js';
import { browserGate, launchBrowser, testOutputPath } from '../helpers/browser.js';

const run = (name: string) => runExperiment(readExperimentSpec(`examples/experiments/${name}.json`), testOutputPath(`experiments/${name}`));

describe('examples/experiments', () => {
  let raceWindow: ExperimentRun;
  let stallTimeout: ExperimentRun;
  beforeAll(async () => {
    raceWindow = await run('race-window');
    stallTimeout = await run('stall-timeout');
  }, 240_000);

  it('race-window: manual faults per smash grow with the window; the engine, stalling for the same window, holds as many and faults none', () => {
    expect(raceWindow.failed).toBe(0);
    const rows = raceWindow.results.answers.windowFaults;
    expect(rows).toHaveLength(16); // 8 windows x 2 rates
    for (const rate of ['100k/s', '1M/s']) {
      const byWindow = rows.filter((r) => r.group === rate);
      expect(byWindow.map((r) => r.windowNs)).toEqual([1000, 10_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000]);
      const manual = byWindow.map((r) => r.manualFaultsPerSmash as number);
      for (let i = 2; i < manual.length; i++) expect(manual[i]).toBeGreaterThan(manual[i - 1] as number);
      for (const r of byWindow) {
        expect(r.engineFaultsPerSmash).toBe(0);
        // Same seeds, same arrivals: what the manual window faults, the engine's stall holds.
        expect(r.engineHeldPerSmash).toBe(r.manualFaultsPerSmash);
      }
      // About rate x window at 2 ms (Poisson arrivals, mean of four seeds).
      const expected = (rate === '1M/s' ? 1e6 : 1e5) * 2e-3;
      expect(manual.at(-1)).toBeGreaterThan(expected * 0.85);
      expect(manual.at(-1)).toBeLessThan(expected * 1.15);
    }
    const csv = readFileSync(raceWindow.files.csv, 'utf8').trim().split('\n');
    expect(csv).toHaveLength(1 + 128);
  });

  it('stall-timeout: no timeout up to the completion timeout at every rate, timeouts past it', () => {
    expect(stallTimeout.failed).toBe(0);
    const limits = stallTimeout.results.answers.stallLimits;
    expect(limits).toHaveLength(9); // 3 completion timeouts x 3 rates
    const next = { '1 ms': 1_500_000, '10 ms': 15_000_000, '50 ms': 60_000_000 } as const;
    for (const [timeout, firstOver] of Object.entries(next)) {
      const group = limits.filter((l) => l.group.startsWith(`timeout ${timeout} `));
      expect(group).toHaveLength(3);
      for (const l of group) {
        expect(l.longestWithoutTimeoutNs).toBe(Number.parseFloat(timeout) * 1e6);
        expect(l.shortestWithTimeoutNs).toBe(firstOver);
      }
    }
    // The timed-out requests are those that arrived more than the timeout before the stall ended.
    const row = stallTimeout.results.points.find((p) => p['stall.baseNs'] === 100_000_000 && p['stall.completionTimeoutNs'] === 50_000_000 && p['dma.ratePerSec'] === 1e6);
    expect(row?.timeouts).toBeGreaterThan(49_000);
    expect(row?.timeouts).toBeLessThanOrEqual(50_000);
  });

  browserGate().describe('the HTML reports in headless Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser?.close();
    });

    for (const [name, charts] of [
      ['race-window', ['latency-cdf', 'held-vs-stall', 'faults-vs-window', 'p99-vs-rate']],
      ['stall-timeout', ['latency-cdf', 'held-vs-stall', 'timeouts-vs-stall', 'p99-vs-rate']],
    ] as const) {
      it(`${name}: every chart drew its points, with no network and no script error`, async () => {
        const html = (name === 'race-window' ? raceWindow : stallTimeout).files.html;
        const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
        const errors: string[] = [];
        const requests: string[] = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        page.on('request', (r) => requests.push(r.url()));
        await page.goto(pathToFileURL(html).href);
        await page.waitForSelector('body[data-charts-ready]');
        const drawn = await page.$$eval('.chart', (els) =>
          els.map((el) => {
            const canvas = el.querySelector('canvas');
            let colored = 0;
            if (canvas !== null) {
              const ctx = canvas.getContext('2d');
              const { data } = ctx!.getImageData(0, 0, canvas.width, canvas.height);
              // Series are saturated colours; the grid, axes and text are greys.
              for (let i = 0; i < data.length; i += 4) {
                const r = data[i]!,
                  g = data[i + 1]!,
                  b = data[i + 2]!;
                if (data[i + 3]! > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) colored++;
              }
            }
            return { id: el.getAttribute('data-chart'), points: Number(el.getAttribute('data-points')), colored };
          }),
        );
        expect(drawn.map((d) => d.id)).toEqual(charts);
        for (const d of drawn) {
          expect(d.points, d.id ?? '').toBeGreaterThan(0);
          expect(d.colored, d.id ?? '').toBeGreaterThan(200);
        }
        expect(errors).toEqual([]);
        expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
        await page.screenshot({ path: testOutputPath(`experiment-${name}.png`), fullPage: true });
        await page.close();
      });
    }
  });
});
