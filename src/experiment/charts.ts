/**
 * The report's charts as plain data (what to plot, not how): each chart is a list
 * of series of (x, y) points. report-html.ts draws them with uPlot in the browser.
 * A chart is made only when the experiment varies its x axis, so a report never
 * shows an empty or one-point plot by design.
 */
import type { AxisName } from './experiment-spec.js';
import type { ExperimentResults, JsonPoint } from './results.js';
import { shortLabel } from './labels.js';

/** Most CDF curves in one chart (see cdfSelection). */
const MAX_CDF_SERIES = 40;

export interface ChartSeries {
  label: string;
  points: [number, number][];
}

export interface Chart {
  id: string;
  title: string;
  /** One sentence under the title: how to read it. */
  note: string;
  xLabel: string;
  yLabel: string;
  xLog: boolean;
  /** Points only, no lines (a scatter). */
  scatter: boolean;
  series: ChartSeries[];
}

/** Every chart the results support, in report order. */
export function buildCharts(r: ExperimentResults): Chart[] {
  const ok = r.points.filter((p) => p.error === '');
  const charts: Chart[] = [];
  const seriesBy = (points: JsonPoint[], axes: AxisName[], x: (p: JsonPoint) => number, y: (p: JsonPoint) => number, prefix = ''): ChartSeries[] => {
    const groups = new Map<string, [number, number][]>();
    for (const p of points) {
      const key = prefix + shortLabel(p, axes);
      const list = groups.get(key) ?? [];
      list.push([x(p), y(p)]);
      groups.set(key, list);
    }
    return [...groups].map(([label, pts]) => ({ label: label === '' ? 'all points' : label, points: meanPerX(pts) }));
  };
  const others = (...except: AxisName[]) => r.swept.filter((a) => !except.includes(a));

  const cdf = cdfSelection(
    ok.filter((p) => p.cdf.length > 0),
    r.swept,
  );
  if (cdf.points.length > 0) {
    charts.push({
      id: 'latency-cdf',
      title: 'Latency CDF per point',
      note: `Percent of completed requests at or below each latency; a held request waits out the stall, so the curve climbs a second time at the stall length.${cdf.note}`,
      xLabel: 'latency (ns)',
      yLabel: 'percent of requests',
      xLog: true,
      scatter: false,
      series: cdf.points.map((p) => ({ label: `#${p.point} ${shortLabel(p, cdf.axes)}`.trim(), points: p.cdf.map((c) => [c.latencyNs, c.percent]) })),
    });
  }

  const engine = ok.filter((p) => p.sequence === 'engine');
  if (engine.length > 0) {
    const groups = others('windowNs', 'stall.baseNs', 'stall.perEntryNs', 'stall.jitter.spreadNs', 'seed', 'sequence');
    const series = new Map<string, [number, number][]>();
    for (const p of engine) {
      const key = shortLabel(p, groups) || 'every smash';
      const list = series.get(key) ?? [];
      for (const s of p.smashList) if (s.ok) list.push([s.stallNs, s.dmaHeld]);
      series.set(key, list);
    }
    charts.push({
      id: 'held-vs-stall',
      title: 'Held requests vs stall length (engine)',
      note: 'One point per smash: the requests its stall held, against how long it stalled DMA.',
      xLabel: 'stall length (ns)',
      yLabel: 'requests held',
      xLog: false,
      scatter: true,
      series: [...series].map(([label, points]) => ({ label, points: meanPerX(points) })),
    });
    const stallSwept = r.swept.some((a) => a.startsWith('stall.')) || engine.some((p) => (p.timeouts as number) > 0);
    if (stallSwept && new Set(engine.map((p) => p.stallMaxNs)).size > 1) {
      charts.push({
        id: 'timeouts-vs-stall',
        title: 'Timeouts vs stall length (engine)',
        note: 'A held request whose wait would pass completionTimeoutNs times out; no timeout below that stall length, whatever the rate.',
        xLabel: 'longest stall of the point (ns)',
        yLabel: 'requests timed out',
        xLog: false,
        scatter: false,
        series: seriesBy(
          engine,
          others('windowNs', 'stall.baseNs', 'stall.perEntryNs', 'stall.jitter.spreadNs', 'seed', 'sequence'),
          (p) => p.stallMaxNs as number,
          (p) => p.timeouts as number,
        ),
      });
    }
  }

  const windowed = ok.filter((p) => p.windowNs !== '');
  if (new Set(windowed.map((p) => p.windowNs)).size > 1) {
    charts.push({
      id: 'faults-vs-window',
      title: 'Faults vs race window',
      note: 'Faults per smash. Manual: DMA in the window walks to a 4 KB leaf over a 2 MB RMP entry. Engine: the same window is its stall, and it holds DMA instead.',
      xLabel: 'race window (ns)',
      yLabel: 'faults per smash',
      xLog: windowed.every((p) => (p.windowNs as number) > 0),
      scatter: false,
      series: seriesBy(
        windowed,
        others('windowNs', 'seed', 'stall.baseNs'),
        (p) => p.windowNs as number,
        (p) => (p.faults as number) / p.smashes,
      ),
    });
  }

  if (new Set(ok.map((p) => p['dma.ratePerSec'])).size > 1) {
    charts.push({
      id: 'p99-vs-rate',
      title: 'p99 latency vs DMA rate',
      note: 'The 99th percentile of completed requests, per stream rate.',
      xLabel: 'requests per second',
      yLabel: 'p99 latency (ns)',
      xLog: true,
      scatter: false,
      series: seriesBy(
        ok,
        others('dma.ratePerSec', 'seed'),
        (p) => p['dma.ratePerSec'],
        (p) => p.p99Ns as number,
      ),
    });
  }
  return charts;
}

/**
 * Sorted by x, with the points that share an x (several seeds, several smashes of
 * one length) merged into their mean: uPlot plots one y per x and series.
 */
export function meanPerX(points: readonly [number, number][]): [number, number][] {
  const sums = new Map<number, [number, number]>();
  for (const [x, y] of points) {
    const s = sums.get(x) ?? [0, 0];
    s[0] += y;
    s[1] += 1;
    sums.set(x, s);
  }
  return [...sums].sort((a, b) => a[0] - b[0]).map(([x, [sum, n]]) => [x, Number((sum / n).toFixed(3))]);
}

/**
 * The points whose CDF is drawn, at most MAX_CDF_SERIES: past that, the first seed
 * only; still past it, the axis with the most values is kept and every other swept
 * axis is fixed at its last value (usually the largest: the highest rate, the
 * longest timeout). `note` says what was left out; results.json has every CDF.
 */
function cdfSelection(points: JsonPoint[], swept: AxisName[]): { points: JsonPoint[]; axes: AxisName[]; note: string } {
  let axes = swept;
  const fixed: string[] = [];
  if (points.length > MAX_CDF_SERIES && swept.includes('seed')) {
    const seed = points[0]?.seed;
    points = points.filter((p) => p.seed === seed);
    axes = axes.filter((a) => a !== 'seed');
    fixed.push(`seed ${seed}`);
  }
  if (points.length > MAX_CDF_SERIES) {
    const values = (a: AxisName) => [...new Set(points.map((p) => String(p[a as keyof JsonPoint])))];
    const keep = [...axes].sort((a, b) => values(b).length - values(a).length)[0];
    for (const a of axes) {
      if (a === keep) continue;
      const last = values(a).at(-1);
      const sample = points.find((p) => String(p[a as keyof JsonPoint]) === last);
      points = points.filter((p) => String(p[a as keyof JsonPoint]) === last);
      if (sample !== undefined) fixed.push(shortLabel(sample, [a]));
    }
    axes = keep === undefined ? [] : [keep];
  }
  return { points, axes, note: fixed.length === 0 ? '' : ` Shown: ${fixed.join(', ')} (results.json has every point's CDF).` };
}
