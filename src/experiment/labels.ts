/** Short text for a point's parameters, for chart legends and the report's tables. */
import type { AxisName } from './experiment-spec.js';
import type { ResultRow } from './result-row.js';

/** A point's values on `axes`, short enough for a legend: "manual W 10 us 1M/s seed 2". */
export function shortLabel(row: ResultRow, axes: readonly AxisName[]): string {
  return axes.map((a) => shortValue(a, row)).join(' ');
}

function shortValue(a: AxisName, row: ResultRow): string {
  const v = row[a as keyof ResultRow];
  switch (a) {
    case 'sequence':
      return String(v);
    case 'windowNs':
      return `W ${duration(v as number)}`;
    case 'dma.ratePerSec':
      return `${count(v as number)}/s`;
    case 'seed':
      return `seed ${v}`;
    case 'smashes':
      return `${v} smashes`;
    case 'stall.baseNs':
      return `stall ${duration(v as number)}`;
    case 'stall.completionTimeoutNs':
      return `timeout ${duration(v as number)}`;
    case 'stall.perEntryNs':
      return `${duration(v as number)}/PTE`;
    case 'stall.jitter.spreadNs':
      return `spread ${duration(v as number)}`;
    case 'dma.accessBytes':
      return `${v} B`;
    default:
      return `${a.split('.').at(-1)} ${String(v)}`;
  }
}

export function duration(ns: number): string {
  if (ns >= 1e9) return `${+(ns / 1e9).toFixed(3)} s`;
  if (ns >= 1e6) return `${+(ns / 1e6).toFixed(3)} ms`;
  if (ns >= 1e3) return `${+(ns / 1e3).toFixed(3)} us`;
  return `${ns} ns`;
}

function count(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(3)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(3)}k`;
  return String(n);
}
