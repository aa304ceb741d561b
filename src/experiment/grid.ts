/**
 * A spec's grid -> its points: every combination of the axis values, the first
 * axis (`sequence`) varying slowest, so the points of one sequence stay together in
 * the CSV. A point is plain data (it crosses to a worker thread by structured clone).
 */
import type { StallModel } from '../tmpm/stall-model.js';
import { AXES, type AxisName, type ClockSetting, type ExperimentSpec, type Sequence } from './experiment-spec.js';

export interface PointParams {
  sequence: Sequence;
  /** The race window (see experiment-spec.ts), or null when the spec has none. */
  windowNs: number | null;
  /** The stall model the engine runs with (for the manual sequence: unused). */
  stall: StallModel;
  dma: { ratePerSec: number; pattern: 'random' | 'sequential'; accessBytes: number; arrival: 'fixed' | 'poisson'; writeRatio: number };
  smashes: number;
  /** TDI bind/unbind cycles after the smashes (0: none). */
  tdiCycles: number;
  seed: number;
  clock: ClockSetting;
}

export interface ExperimentPoint {
  /** 0-based, in grid order. */
  index: number;
  params: PointParams;
  /** The value of every swept axis (more than one value) at this point, by axis name. */
  swept: Partial<Record<AxisName, unknown>>;
}

/** The axes with more than one value, in AXES order. */
export function sweptAxes(spec: ExperimentSpec): AxisName[] {
  return AXES.filter((name) => spec.axes[name].length > 1);
}

export function expandGrid(spec: ExperimentSpec): ExperimentPoint[] {
  const swept = new Set(sweptAxes(spec));
  const points: ExperimentPoint[] = [];
  const pick = new Map<AxisName, unknown>();
  const walk = (depth: number): void => {
    if (depth === AXES.length) {
      points.push(toPoint(points.length, pick, swept));
      return;
    }
    const name = AXES[depth] as AxisName;
    for (const value of spec.axes[name] as unknown[]) {
      pick.set(name, value);
      walk(depth + 1);
    }
  };
  walk(0);
  return points;
}

function toPoint(index: number, pick: Map<AxisName, unknown>, swept: Set<AxisName>): ExperimentPoint {
  const get = <T>(name: AxisName): T => pick.get(name) as T;
  const windowNs = get<number | null>('windowNs');
  const params: PointParams = {
    sequence: get('sequence'),
    windowNs,
    stall: {
      baseNs: windowNs ?? get<number>('stall.baseNs'),
      perEntryNs: get('stall.perEntryNs'),
      jitter: { dist: get('stall.jitter.dist'), spreadNs: get('stall.jitter.spreadNs') },
      scope: get('stall.scope'),
      policy: get('stall.policy'),
      completionTimeoutNs: get('stall.completionTimeoutNs'),
    },
    dma: {
      ratePerSec: get('dma.ratePerSec'),
      pattern: get('dma.pattern'),
      accessBytes: get('dma.accessBytes'),
      arrival: get('dma.arrival'),
      writeRatio: get('dma.writeRatio'),
    },
    smashes: get('smashes'),
    tdiCycles: get('tdiCycles'),
    seed: get('seed'),
    clock: { ...get<ClockSetting>('clock') },
  };
  const sweptValues: Partial<Record<AxisName, unknown>> = {};
  for (const name of swept) sweptValues[name] = pick.get(name);
  return { index, params, swept: sweptValues };
}

/** A point's swept values as `key=value` text for progress lines and chart legends. */
export function describeSwept(point: ExperimentPoint, except: readonly AxisName[] = []): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(point.swept)) {
    if (except.includes(name as AxisName)) continue;
    parts.push(`${name}=${formatAxisValue(value)}`);
  }
  return parts.length === 0 ? 'the only point' : parts.join(' ');
}

export function formatAxisValue(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    const c = value as ClockSetting;
    return c.mode === 'realtime' && c.speed !== 1 ? `realtime x${c.speed}` : c.mode;
  }
  return String(value);
}
