/**
 * An experiment's results as files: one row per point (its parameters, then what
 * was measured) as CSV and as JSON, and the two answers the shipped specs ask for,
 * computed from the rows: the longest stall with no timeout, and the faults the
 * manual sequence produced per window.
 */
import { AXES, type AxisName, type ExperimentSpec } from './experiment-spec.js';
import { formatAxisValue, sweptAxes, type ExperimentPoint } from './grid.js';
import type { CdfPoint } from './latency-cdf.js';
import { duration, shortLabel } from './labels.js';
import type { SmashRecord } from './run-point.js';
import type { PointOutcome } from './worker-pool.js';
import type { ResultRow } from './result-row.js';

export interface JsonPoint extends ResultRow {
  cdf: CdfPoint[];
  smashList: SmashRecord[];
}

export function toRow(o: PointOutcome): ResultRow {
  const p = o.point.params;
  const r = o.result;
  const m = <T>(f: (x: NonNullable<typeof r>) => T): T | '' => (r === null ? '' : f(r));
  return {
    point: o.point.index,
    sequence: p.sequence,
    windowNs: p.windowNs ?? '',
    'stall.baseNs': p.stall.baseNs,
    'stall.perEntryNs': p.stall.perEntryNs,
    'stall.jitter.dist': p.stall.jitter.dist,
    'stall.jitter.spreadNs': p.stall.jitter.spreadNs,
    'stall.scope': p.stall.scope,
    'stall.policy': p.stall.policy,
    'stall.completionTimeoutNs': p.stall.completionTimeoutNs,
    'dma.ratePerSec': p.dma.ratePerSec,
    'dma.pattern': p.dma.pattern,
    'dma.accessBytes': p.dma.accessBytes,
    'dma.arrival': p.dma.arrival,
    'dma.writeRatio': p.dma.writeRatio,
    smashes: p.smashes,
    tdiCycles: p.tdiCycles,
    seed: p.seed,
    clock: formatAxisValue(p.clock),
    issued: m((x) => x.issued),
    completed: m((x) => x.completed),
    held: m((x) => x.held),
    faults: m((x) => x.faults),
    rmpFaults: m((x) => x.rmpFaults),
    ioPageFaults: m((x) => x.ioPageFaults),
    timeouts: m((x) => x.timeouts),
    aborted: m((x) => x.aborted),
    p50Ns: m((x) => x.latencyNs.p50),
    p90Ns: m((x) => x.latencyNs.p90),
    p99Ns: m((x) => x.latencyNs.p99),
    p999Ns: m((x) => x.latencyNs.p999),
    maxNs: m((x) => x.latencyNs.max),
    stallNs: m((x) => x.stallNs),
    stallMaxNs: m((x) => x.stallMaxNs),
    smashFailures: m((x) => x.smashFailures),
    durationNs: m((x) => x.durationNs),
    tdiUnboundFaults: m((x) => x.tdi.unboundFaults),
    tdiUnboundCompleted: m((x) => x.tdi.unboundCompleted),
    tdiFailures: m((x) => x.tdi.failures),
    wallMs: o.wallMs,
    error: o.error ?? '',
  };
}

export function toCsv(rows: readonly ResultRow[]): string {
  const first = rows[0];
  if (first === undefined) return '';
  const columns = Object.keys(first) as (keyof ResultRow)[];
  const cell = (v: unknown): string => {
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [columns.join(','), ...rows.map((row) => columns.map((c) => cell(row[c])).join(','))].join('\n') + '\n';
}

export interface ExperimentResults {
  name: string;
  question: string;
  /** The axes with more than one value, in grid order. */
  swept: AxisName[];
  /** Every axis and its values (held ones too), as given. */
  axes: Record<string, unknown[]>;
  target: { deviceId: number; domainId: number; iovaBase: string };
  timing: ExperimentSpec['timing'];
  scenario: string;
  points: JsonPoint[];
  answers: Answers;
}

export function buildResults(spec: ExperimentSpec, outcomes: readonly PointOutcome[]): ExperimentResults {
  const rows = outcomes.map(toRow);
  const points: JsonPoint[] = outcomes.map((o, i) => ({ ...(rows[i] as ResultRow), cdf: o.result?.cdf ?? [], smashList: o.result?.smashList ?? [] }));
  const axes: Record<string, unknown[]> = {};
  for (const name of AXES) axes[name] = spec.axes[name].map((v) => (v !== null && typeof v === 'object' ? formatAxisValue(v) : v));
  return {
    name: spec.name,
    question: spec.question,
    swept: sweptAxes(spec),
    axes,
    target: { deviceId: spec.target.deviceId, domainId: spec.target.domainId, iovaBase: `0x${spec.target.iovaBase.toString(16)}` },
    timing: spec.timing,
    scenario: spec.scenario.name,
    points,
    answers: answers(rows, sweptAxes(spec)),
  };
}

// ---- the answers ----------------------------------------------------------

/** Stall-vs-timeout: per group of the other swept axes, the longest stall with no timeout and the shortest with one. */
export interface StallLimitRow {
  group: string;
  longestWithoutTimeoutNs: number | null;
  shortestWithTimeoutNs: number | null;
}

/** Race window: per window and group, the faults per smash of each sequence. */
export interface WindowFaultsRow {
  windowNs: number;
  group: string;
  manualFaultsPerSmash: number | null;
  engineFaultsPerSmash: number | null;
  engineHeldPerSmash: number | null;
}

export interface Answers {
  stallLimits: StallLimitRow[];
  windowFaults: WindowFaultsRow[];
}

function answers(rows: readonly ResultRow[], swept: readonly AxisName[]): Answers {
  const ok = rows.filter((r) => r.error === '');
  // Stall limits: engine points, grouped by every swept axis that is not about the stall's length.
  const lengthAxes: AxisName[] = ['windowNs', 'stall.baseNs', 'stall.perEntryNs', 'stall.jitter.spreadNs', 'seed', 'sequence'];
  const stallGroups = swept.filter((a) => !lengthAxes.includes(a));
  const engine = ok.filter((r) => r.sequence === 'engine');
  const stallLimits: StallLimitRow[] = [];
  // Asked when the spec sweeps the stall itself (not only through windowNs), or when something timed out.
  const stallSwept = swept.some((a) => a.startsWith('stall.')) || engine.some((r) => (r.timeouts as number) > 0);
  if (stallSwept && new Set(engine.map((r) => r.stallMaxNs)).size > 1) {
    for (const [group, members] of groupBy(engine, (r) => shortLabel(r, stallGroups))) {
      const clean = members.filter((r) => r.timeouts === 0).map((r) => r.stallMaxNs as number);
      const timedOut = members.filter((r) => (r.timeouts as number) > 0).map((r) => r.stallMaxNs as number);
      stallLimits.push({
        group,
        longestWithoutTimeoutNs: clean.length === 0 ? null : Math.max(...clean),
        shortestWithTimeoutNs: timedOut.length === 0 ? null : Math.min(...timedOut),
      });
    }
  }
  // Window faults: grouped by the swept axes other than the window, the sequence and the seed (seeds are averaged).
  const windowGroups = swept.filter((a) => !['windowNs', 'sequence', 'seed', 'stall.baseNs'].includes(a));
  const windowFaults: WindowFaultsRow[] = [];
  if (ok.some((r) => r.windowNs !== '')) {
    for (const [key, members] of groupBy(ok, (r) => `${r.windowNs}\u0000${shortLabel(r, windowGroups)}`)) {
      const [w, group] = key.split('\u0000') as [string, string];
      const per = (seq: string, f: (r: ResultRow) => number) => {
        const m = members.filter((r) => r.sequence === seq);
        return m.length === 0 ? null : Number((m.reduce((a, r) => a + f(r) / r.smashes, 0) / m.length).toFixed(3));
      };
      windowFaults.push({
        windowNs: Number(w),
        group,
        manualFaultsPerSmash: per('manual', (r) => r.faults as number),
        engineFaultsPerSmash: per('engine', (r) => r.faults as number),
        engineHeldPerSmash: per('engine', (r) => r.held as number),
      });
    }
    windowFaults.sort((a, b) => a.group.localeCompare(b.group) || a.windowNs - b.windowNs);
  }
  return { stallLimits, windowFaults };
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = m.get(k);
    if (list === undefined) m.set(k, [item]);
    else list.push(item);
  }
  return m;
}

/** The answers as text lines for the terminal (empty when the spec asks neither). */
export function answersText(a: Answers): string[] {
  const lines: string[] = [];
  if (a.stallLimits.length > 0) {
    lines.push('longest stall with no timeout (engine):');
    for (const r of a.stallLimits) {
      const ok = r.longestWithoutTimeoutNs === null ? 'none of the stalls tried' : `${duration(r.longestWithoutTimeoutNs)}`;
      const bad = r.shortestWithTimeoutNs === null ? 'no timeout at any stall tried' : `timeouts from ${duration(r.shortestWithTimeoutNs)}`;
      lines.push(`  ${r.group === '' ? 'all points' : r.group}: ${ok}; ${bad}`);
    }
  }
  if (a.windowFaults.length > 0) {
    lines.push('faults per smash by race window:');
    for (const r of a.windowFaults) {
      const parts = [
        r.manualFaultsPerSmash === null ? null : `manual ${r.manualFaultsPerSmash} faults`,
        r.engineFaultsPerSmash === null ? null : `engine ${r.engineFaultsPerSmash} faults, ${r.engineHeldPerSmash} held`,
      ].filter((x) => x !== null);
      lines.push(`  window ${duration(r.windowNs)}${r.group === '' ? '' : ` ${r.group}`}: ${parts.join('; ')}`);
    }
  }
  return lines;
}

export type { ExperimentPoint };
