/**
 * The experiment's HTML report: one self-contained file (no network: uPlot's script
 * and stylesheet are inlined, the data is embedded as JSON), so it opens from a
 * file://, a CI artifact or an e-mail attachment alike. Each chart's container gets
 * `data-points` = the points uPlot drew, which the browser test checks.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { buildCharts, type Chart } from './charts.js';
import { duration } from './labels.js';
import type { ExperimentResults } from './results.js';
import type { ResultRow } from './result-row.js';

const require = createRequire(import.meta.url);

function uplotAsset(file: string): string {
  return readFileSync(require.resolve(`uplot/dist/${file}`), 'utf8');
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON inside <script>: nothing in it can close the element. */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

const TABLE_COLUMNS: (keyof ResultRow)[] = ['point', 'held', 'faults', 'timeouts', 'aborted', 'p50Ns', 'p99Ns', 'p999Ns', 'maxNs', 'stallNs', 'smashFailures', 'error'];

export function renderReport(r: ExperimentResults): string {
  const charts = buildCharts(r);
  const swept = r.swept as (keyof ResultRow)[];
  const columns = [...TABLE_COLUMNS.slice(0, 1), ...swept, ...TABLE_COLUMNS.slice(1)];
  const failed = r.points.filter((p) => p.error !== '').length;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(r.name)}: smash-emu experiment</title>
<style>${uplotAsset('uPlot.min.css')}</style>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; padding: 0 16px; color: #1b1b1b; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.question { font-size: 15px; color: #333; }
.meta, .note { color: #555; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 12.5px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f4f4f4; }
td.text { text-align: left; }
.chart { margin: 8px 0 24px; }
.chart .u-legend { font-size: 12px; text-align: left; }
.chart .u-legend th { background: none; border: none; font-weight: normal; }
.chart .u-legend td { border: none; }
.failed { color: #b00020; font-weight: bold; }
.scroll { overflow-x: auto; }
</style>
</head>
<body>
<h1>${esc(r.name)}</h1>
${r.question === '' ? '' : `<p class="question">${esc(r.question)}</p>`}
<p class="meta">${r.points.length} point${r.points.length === 1 ? '' : 's'}, each on its own platform built from the scenario <code>${esc(r.scenario)}</code>;
swept: ${r.swept.length === 0 ? 'nothing' : r.swept.map((a) => `<code>${esc(a)}</code>`).join(', ')}.
DMA stream on device 0x${r.target.deviceId.toString(16).padStart(4, '0')} (domain ${r.target.domainId}) over the smashed regions from IOVA ${esc(r.target.iovaBase)};
${duration(r.timing.warmupNs)} warm-up, ${duration(r.timing.gapNs)} between smashes, ${duration(r.timing.settleNs)} settle (virtual time).
${failed > 0 ? `<span class="failed">${failed} point${failed === 1 ? '' : 's'} failed (see the table).</span>` : ''}</p>
${answersHtml(r)}
${charts.map(chartHtml).join('\n')}
<h2>Every point</h2>
<div class="scroll"><table>
<tr>${columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>
${r.points.map((p) => `<tr>${columns.map((c) => cellHtml(p[c])).join('')}</tr>`).join('\n')}
</table></div>
<p class="note">The CSV and JSON beside this file have every column (the JSON also each smash and each latency CDF).</p>
<script>${uplotAsset('uPlot.iife.min.js')}</script>
<script type="application/json" id="charts">${scriptJson(charts)}</script>
<script>${DRAW_SCRIPT}</script>
</body>
</html>
`;
}

function cellHtml(v: unknown): string {
  if (typeof v === 'number') return `<td>${v.toLocaleString('en-US')}</td>`;
  const s = String(v ?? '');
  return `<td class="text${s !== '' && /error|fail/i.test(s) ? ' failed' : ''}">${esc(s)}</td>`;
}

function chartHtml(c: Chart): string {
  return `<h2>${esc(c.title)}</h2>
<p class="note">${esc(c.note)}</p>
<div class="chart" id="chart-${esc(c.id)}" data-chart="${esc(c.id)}"></div>`;
}

function answersHtml(r: ExperimentResults): string {
  const a = r.answers;
  const parts: string[] = [];
  const t = (ns: number | null) => (ns === null ? '&mdash;' : `${(ns / 1e6).toLocaleString('en-US', { maximumFractionDigits: 3 })} ms`);
  if (a.stallLimits.length > 0) {
    parts.push(`<h2>Longest stall with no timeout</h2>
<p class="note">Engine points, per combination of the other swept parameters: the longest stall that timed out no request, and the shortest that timed out one.</p>
<table><tr><th>parameters</th><th>longest stall, no timeout</th><th>shortest stall with timeouts</th></tr>
${a.stallLimits.map((s) => `<tr><td class="text">${esc(s.group || 'all points')}</td><td>${t(s.longestWithoutTimeoutNs)}</td><td>${t(s.shortestWithTimeoutNs)}</td></tr>`).join('\n')}
</table>`);
  }
  if (a.windowFaults.length > 0) {
    const n = (v: number | null) => (v === null ? '&mdash;' : v.toLocaleString('en-US'));
    parts.push(`<h2>Faults per smash by race window</h2>
<p class="note">Mean over seeds. Manual: IOPDE write, INVALIDATE_IOMMU_PAGES, the window, then PSMASH. Engine: one smash whose stall is the window.</p>
<table><tr><th>window</th><th>parameters</th><th>manual: faults</th><th>engine: faults</th><th>engine: held</th></tr>
${a.windowFaults.map((w) => `<tr><td>${(w.windowNs / 1000).toLocaleString('en-US')} us</td><td class="text">${esc(w.group || 'all points')}</td><td>${n(w.manualFaultsPerSmash)}</td><td>${n(w.engineFaultsPerSmash)}</td><td>${n(w.engineHeldPerSmash)}</td></tr>`).join('\n')}
</table>`);
  }
  return parts.join('\n');
}

/**
 * Runs in the page: one uPlot per chart. Series of one chart have their own x
 * values, so they are aligned on the union of x with gaps (null) spanned.
 */
const DRAW_SCRIPT = `
(function () {
  var charts = JSON.parse(document.getElementById('charts').textContent);
  var TABLEAU = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#555555'];
  function color(i, n) { return n <= TABLEAU.length ? TABLEAU[i] : 'hsl(' + Math.round((i * 360) / n + 210) % 360 + ', 70%, ' + (i % 2 ? 38 : 48) + '%)'; }
  function dur(v) { var a = Math.abs(v); return v == null ? '' : a >= 1e9 ? +(v / 1e9).toFixed(3) + ' s' : a >= 1e6 ? +(v / 1e6).toFixed(3) + ' ms' : a >= 1e3 ? +(v / 1e3).toFixed(3) + ' us' : +v.toFixed(1) + ' ns'; }
  function fmt(v) { return v == null ? '' : Math.abs(v) >= 1e6 ? (v / 1e6).toLocaleString('en-US', { maximumFractionDigits: 2 }) + 'M' : Math.abs(v) >= 1e3 ? (v / 1e3).toLocaleString('en-US', { maximumFractionDigits: 2 }) + 'k' : String(+v.toFixed(3)); }
  charts.forEach(function (c) {
    var el = document.getElementById('chart-' + c.id);
    var xs = [];
    var seen = {};
    c.series.forEach(function (s) { s.points.forEach(function (p) { if (!seen[p[0]]) { seen[p[0]] = true; xs.push(p[0]); } }); });
    xs.sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (x, i) { index[x] = i; });
    var data = [xs];
    var drawn = 0;
    c.series.forEach(function (s) {
      var ys = xs.map(function () { return null; });
      s.points.forEach(function (p) { ys[index[p[0]]] = p[1]; drawn++; });
      data.push(ys);
    });
    var n = c.series.length;
    var opts = {
      width: Math.min(el.clientWidth || 960, 960),
      height: 380,
      scales: { x: { time: false, distr: c.xLog ? 3 : 1 }, y: { auto: true } },
      axes: [
        { label: c.xLabel, values: function (u, vals) { return vals.map(c.xLabel.slice(-4) === "(ns)" ? dur : fmt); }, size: 50 },
        { label: c.yLabel, values: function (u, vals) { return vals.map(c.yLabel.slice(-4) === "(ns)" ? dur : fmt); }, size: 80 }
      ],
      legend: { live: false },
      cursor: { drag: { x: true, y: false } },
      series: [{ label: c.xLabel }].concat(c.series.map(function (s, i) {
        var stroke = color(i, n);
        return {
          label: s.label,
          stroke: stroke,
          width: 2,
          spanGaps: true,
          fill: undefined,
          paths: c.scatter ? function () { return null; } : undefined,
          points: { show: c.scatter || s.points.length <= 24, size: c.scatter ? 8 : 5, stroke: stroke, fill: stroke }
        };
      }))
    };
    new uPlot(opts, data, el);
    el.setAttribute('data-points', String(drawn));
    el.setAttribute('data-series', String(n));
  });
  document.body.setAttribute('data-charts-ready', String(charts.length));
})();
`;
