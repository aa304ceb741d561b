/**
 * The experiment spec (`smash-emu experiment SPEC.json`): which parameters to sweep
 * and which to hold. Every parameter takes one value or a list of values; a list is
 * a swept axis, and the points are every combination of the axes (grid.ts). Objects
 * are strict, so a misspelt key is an error naming the key, not a silently ignored
 * setting; every message says what to change.
 *
 * `windowNs` is the race window: for the manual sequence (the VMM's non-atomic
 * IOPDE write, INVALIDATE_IOMMU_PAGES, then PSMASH) the time between the
 * invalidation and the PSMASH; for the engine, the stall length (its baseNs, with
 * perEntryNs 0 and, unless the spec sets one, no jitter), so both sequences cover
 * the same window.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as z from 'zod';
import { ENTRIES_PER_SMASH, MAX_STALL_NS } from '../tmpm/stall-model.js';
import type { Scenario } from '../platform/scenario.js';
import { DEFAULT_SCENARIO, DEFAULT_STALL_MODEL } from '../platform/scenario.js';
import { formatPath, toWireIssues, type WireIssue } from '../protocol/issues.js';
import { accessBytes, jitterDist, parseScenario, ratePerSec, stallPolicy, stallScope, streamArrival, streamPattern, writeRatio } from '../protocol/scenario-schema.js';
import { deviceId, domainId, err, hex64, intRange, ns } from '../protocol/wire.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';

/** Most points one spec may expand to: a bigger sweep is split into several specs. */
export const MAX_POINTS = 10_000;
/** Most smashes per point (each smashes its own 2 MB region). */
export const MAX_SMASHES = 256;
/** Most TDI bind/unbind cycles per point. */
export const MAX_TDI_CYCLES = 64;
/** Longest stretch of virtual time one phase may run (warm-up, gap, settle, window): 10 s. */
const MAX_PHASE_NS = 10_000_000_000;

export const SEQUENCES = ['engine', 'manual'] as const;
export type Sequence = (typeof SEQUENCES)[number];

/** One value, or a non-empty list of values (a swept axis). */
function axis<T extends z.ZodType>(one: T) {
  return z.union([one, z.array(one).min(1, 'an empty list sweeps nothing; fix: give at least one value, or leave the key out')], {
    error: (issue) => (issue.input === undefined ? 'is required' : 'must be one value or a list of values (a swept axis); see the message of a single value for what is allowed'),
  });
}

const phaseNs = (what: string) => ns(what).max(MAX_PHASE_NS, 'must be at most 10 s (10000000000 ns); fix: a shorter phase');

const stallSpec = z.strictObject({
  baseNs: axis(ns('fixed part of a stall')).exactOptional().describe(`stall length before jitter, ns; default ${DEFAULT_STALL_MODEL.baseNs}; not with windowNs (which sets it)`),
  perEntryNs: axis(ns('per PTE, x512')).exactOptional(),
  jitter: z.strictObject({ dist: axis(jitterDist).exactOptional(), spreadNs: axis(ns('jitter spread')).exactOptional() }).exactOptional(),
  scope: axis(stallScope).exactOptional(),
  policy: axis(stallPolicy).exactOptional(),
  completionTimeoutNs: axis(ns('completion timeout of a held request')).exactOptional(),
});

const dmaSpec = z.strictObject({
  ratePerSec: axis(ratePerSec).exactOptional().describe('default 1e6'),
  pattern: axis(streamPattern).exactOptional(),
  accessBytes: axis(accessBytes).exactOptional().describe('default 64'),
  arrival: axis(streamArrival).exactOptional(),
  writeRatio: axis(writeRatio).exactOptional().describe('default 0.5'),
});

const clockSpec = z.union([z.enum(['virtual', 'realtime']), z.strictObject({ mode: z.enum(['virtual', 'realtime']), speed: z.number().gt(0, 'must be > 0').max(1e6, 'must be <= 1e6').default(1) })], {
  error: (issue) => (issue.input === undefined ? 'is required' : 'must be "virtual", "realtime" or {"mode": ..., "speed": N}'),
});

const targetSpec = z.strictObject({
  deviceId: deviceId.default(0x0100).describe("the device whose DMA stream runs; default 0x0100 (the default scenario's TEE-IO device)"),
  domainId: domainId.default(1).describe('its IOMMU domain; default 1'),
  iovaBase: hex64('0x200000')
    .refine((v) => v % 0x20_0000n === 0n, 'must be 2 MB aligned (the smash works on 2 MB regions); fix: round it to a multiple of 0x200000')
    .default(0x20_0000n)
    .describe('the first 2 MB region smashed; smash i takes the region at iovaBase + i x 2 MB'),
});

const timingSpec = z.strictObject({
  warmupNs: phaseNs('DMA before the first smash').default(1_000_000),
  gapNs: phaseNs('DMA between one smash ending and the next starting').default(1_000_000),
  settleNs: phaseNs('DMA after the last smash').default(1_000_000),
});

const specShape = z.strictObject({
  name: z.string(err('must be a string')).min(1, 'must not be empty').max(200, 'must be at most 200 characters').describe('title of the report'),
  question: z.string().max(2000).exactOptional().describe('the question the experiment answers, shown in the report'),
  scenario: z
    .union([z.string().min(1), z.record(z.string(), z.unknown())], { error: 'must be a scenario file path (relative to the spec) or a scenario object' })
    .exactOptional()
    .describe('the platform every point is built from; default: the default scenario'),
  target: targetSpec.prefault({}),
  sequence: axis(z.enum(SEQUENCES)).default('engine').describe('engine: one smash under a stall; manual: write IOPDE, invalidate, wait windowNs, PSMASH'),
  windowNs: axis(phaseNs('race window')).exactOptional(),
  stall: stallSpec.prefault({}),
  dma: dmaSpec.prefault({}),
  smashes: axis(intRange(1, MAX_SMASHES)).default(1).describe('smashes per point, each on the next 2 MB region'),
  tdiCycles: axis(intRange(0, MAX_TDI_CYCLES))
    .default(0)
    .describe("bind/unbind cycles of the target device's TDI after the smashes, DMA running: fw.tdiUnbind (its DMA then fenced), gapNs of DMA, tio.fenceClear, fw.tdiBind (TDI back to RUN), gapNs"),
  seed: axis(intRange(0, 0xffff_ffff)).exactOptional().describe("PRNG seed; default: the scenario's"),
  clock: axis(clockSpec).default('virtual'),
  timing: timingSpec.prefault({}),
});

type Shape = z.output<typeof specShape>;

/** A parsed spec: every axis as a list (length 1 = held), the scenario resolved. */
export interface ExperimentSpec {
  name: string;
  question: string;
  scenario: Scenario;
  target: { deviceId: number; domainId: number; iovaBase: bigint };
  timing: { warmupNs: number; gapNs: number; settleNs: number };
  /** Axis name (dotted, as in the spec) -> its values, in the order of AXES. */
  axes: AxisValues;
}

export interface ClockSetting {
  mode: 'virtual' | 'realtime';
  speed: number;
}

export interface AxisValues {
  sequence: Sequence[];
  windowNs: (number | null)[];
  'stall.baseNs': number[];
  'stall.perEntryNs': number[];
  'stall.jitter.dist': ('none' | 'uniform' | 'normal' | 'lognormal')[];
  'stall.jitter.spreadNs': number[];
  'stall.scope': ('domain' | 'iommu')[];
  'stall.policy': ('hold' | 'abort')[];
  'stall.completionTimeoutNs': number[];
  'dma.ratePerSec': number[];
  'dma.pattern': ('random' | 'sequential')[];
  'dma.accessBytes': number[];
  'dma.arrival': ('fixed' | 'poisson')[];
  'dma.writeRatio': number[];
  smashes: number[];
  tdiCycles: number[];
  seed: number[];
  clock: ClockSetting[];
}
export type AxisName = keyof AxisValues;
export const AXES = [
  'sequence',
  'windowNs',
  'stall.baseNs',
  'stall.perEntryNs',
  'stall.jitter.dist',
  'stall.jitter.spreadNs',
  'stall.scope',
  'stall.policy',
  'stall.completionTimeoutNs',
  'dma.ratePerSec',
  'dma.pattern',
  'dma.accessBytes',
  'dma.arrival',
  'dma.writeRatio',
  'smashes',
  'tdiCycles',
  'seed',
  'clock',
] as const satisfies readonly AxisName[];

const list = <T>(v: T | T[] | undefined, fallback: T): T[] => (v === undefined ? [fallback] : Array.isArray(v) ? v : [v]);

function toSpec(doc: Shape, scenario: Scenario): ExperimentSpec {
  const s = doc.stall;
  const d = DEFAULT_STALL_MODEL;
  const clock = list(doc.clock, 'virtual').map((c): ClockSetting => (typeof c === 'string' ? { mode: c, speed: 1 } : { mode: c.mode, speed: c.speed }));
  const windows = doc.windowNs === undefined ? [null] : list(doc.windowNs, 0);
  return {
    name: doc.name,
    question: doc.question ?? '',
    scenario,
    target: doc.target,
    timing: doc.timing,
    axes: {
      sequence: list(doc.sequence, 'engine'),
      windowNs: windows,
      // With windowNs, the engine's stall base is the window (see the header).
      'stall.baseNs': list(s.baseNs, doc.windowNs === undefined ? d.baseNs : 0),
      'stall.perEntryNs': list(s.perEntryNs, doc.windowNs === undefined ? d.perEntryNs : 0),
      'stall.jitter.dist': list(s.jitter?.dist, doc.windowNs === undefined ? d.jitter.dist : 'none'),
      'stall.jitter.spreadNs': list(s.jitter?.spreadNs, d.jitter.spreadNs),
      'stall.scope': list(s.scope, d.scope),
      'stall.policy': list(s.policy, d.policy),
      'stall.completionTimeoutNs': list(s.completionTimeoutNs, d.completionTimeoutNs),
      'dma.ratePerSec': list(doc.dma.ratePerSec, 1e6),
      'dma.pattern': list(doc.dma.pattern, 'random'),
      'dma.accessBytes': list(doc.dma.accessBytes, 64),
      'dma.arrival': list(doc.dma.arrival, 'fixed'),
      'dma.writeRatio': list(doc.dma.writeRatio, 0.5),
      smashes: list(doc.smashes, 1),
      tdiCycles: list(doc.tdiCycles, 0),
      seed: list(doc.seed, scenario.seed),
      clock,
    },
  };
}

/** Cross-key rules, checked once the structure is sound. */
function crossIssues(doc: Shape): WireIssue[] {
  const issues: WireIssue[] = [];
  if (doc.windowNs !== undefined && doc.stall.baseNs !== undefined) {
    issues.push({ path: ['stall', 'baseNs'], message: "cannot be set together with windowNs, which sets the engine's stall length; fix: remove one of them" });
  }
  const sequences = list(doc.sequence, 'engine');
  if (sequences.includes('engine')) {
    // The longest stall any point's model allows must pass the engine's limit (stall-model.ts), or every such point would fail.
    const max = (v: number | number[] | undefined, fallback: number) => Math.max(...list(v, fallback));
    const jitter = list(doc.stall.jitter?.dist, doc.windowNs === undefined ? DEFAULT_STALL_MODEL.jitter.dist : 'none').some((d) => d !== 'none');
    const longest =
      max(doc.windowNs ?? doc.stall.baseNs, DEFAULT_STALL_MODEL.baseNs) +
      ENTRIES_PER_SMASH * max(doc.stall.perEntryNs, doc.windowNs === undefined ? DEFAULT_STALL_MODEL.perEntryNs : 0) +
      (jitter ? 4 * max(doc.stall.jitter?.spreadNs, DEFAULT_STALL_MODEL.jitter.spreadNs) : 0);
    if (longest > MAX_STALL_NS) {
      issues.push({
        path: ['stall'],
        message: `allows stalls up to ${longest} ns (baseNs or windowNs + 512 x perEntryNs + 4 x jitter spreadNs at their largest); the engine's limit is ${MAX_STALL_NS} ns (10 s); fix: shorter stalls`,
      });
    }
  }
  if (sequences.includes('manual') && doc.windowNs === undefined) {
    issues.push({ path: ['windowNs'], message: 'is required by sequence "manual" (the time between the invalidation and the PSMASH); fix: add "windowNs": [10000, 100000] or similar' });
  }
  return issues;
}

/** Points in the grid a spec describes (the product of its axis lengths). */
export function pointCount(spec: ExperimentSpec): number {
  return AXES.reduce((n, name) => n * spec.axes[name].length, 1);
}

/**
 * Parses a spec document. `baseDir` resolves a scenario file path (the spec's own
 * directory). Throws EmuError BAD_DOCUMENT listing every problem as
 * `spec.KEY: message; fix: ...`.
 */
export function parseExperimentSpec(doc: unknown, baseDir = '.'): ExperimentSpec {
  const result = specShape.safeParse(doc);
  const issues = result.success ? crossIssues(result.data) : toWireIssues(singleValueIssues(result.error.issues));
  if (issues.length === 0 && result.success) {
    const scenario = loadScenario(result.data.scenario, baseDir);
    const spec = toSpec(result.data, scenario);
    const n = pointCount(spec);
    if (n > MAX_POINTS) fail([{ path: [], message: `expands to ${n} points, more than ${MAX_POINTS}; fix: sweep fewer values, or split it into several specs` }]);
    return spec;
  }
  return fail(issues);
}

/**
 * An axis is a union (one value | a list). When neither branch takes the input, zod
 * reports the union; the message of the single-value branch says what is allowed,
 * so that is the one reported (with its own path under the key).
 */
function singleValueIssues(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const out: z.core.$ZodIssue[] = [];
  for (const issue of issues) {
    if (issue.code !== 'invalid_union' || issue.errors.length !== 2) {
      out.push(issue);
      continue;
    }
    const [single, many] = issue.errors as [z.core.$ZodIssue[], z.core.$ZodIssue[]];
    const rootTypeError = (branch: z.core.$ZodIssue[]) => branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0;
    const chosen = rootTypeError(many) || !rootTypeError(single) ? single : many;
    out.push(...singleValueIssues(chosen.map((i) => ({ ...i, path: [...issue.path, ...i.path] }))));
  }
  return out;
}

function fail(issues: WireIssue[]): never {
  const named = issues.map(({ path, message }) => ({ path: formatPath('spec', path), message }));
  const lines = named.map((i) => `  ${i.path}: ${i.message}`);
  throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `the experiment spec is not valid (${named.length} problem${named.length === 1 ? '' : 's'}):\n${lines.join('\n')}`, { issues: named });
}

function loadScenario(ref: string | Record<string, unknown> | undefined, baseDir: string): Scenario {
  if (ref === undefined) return DEFAULT_SCENARIO;
  let doc: unknown = ref;
  if (typeof ref === 'string') {
    const path = resolve(baseDir, ref);
    try {
      doc = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      fail([{ path: ['scenario'], message: `cannot read ${path} as JSON (${(e as Error).message}); fix: give the path of a scenario file, relative to the spec` }]);
    }
  }
  try {
    return parseScenario(doc);
  } catch (e) {
    if (e instanceof EmuError) fail([{ path: ['scenario'], message: e.message.replace(/\n\s*/g, ' ') }]);
    throw e;
  }
}

/** Reads and parses a spec file; a scenario path inside it is relative to the file. */
export function readExperimentSpec(path: string): ExperimentSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `cannot read the spec ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `the spec ${path} is not valid JSON (${(e as Error).message}); a spec is one JSON object`);
  }
  return parseExperimentSpec(doc, dirname(resolve(path)));
}
