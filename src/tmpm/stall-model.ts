/**
 * The stall model (protocol/README.md §4.5): how long the smash engine stalls DMA,
 * whom it stalls, and what happens to requests that arrive meanwhile.
 * duration = baseNs + 512 x perEntryNs + jitter, clamped at >= 0.
 */
import type { SeededRng } from '../util/rng.js';
import { invalidArgument } from '../util/emu-error.js';

export interface StallModel {
  baseNs: number;
  perEntryNs: number;
  jitter: { dist: 'none' | 'uniform' | 'normal' | 'lognormal'; spreadNs: number };
  scope: 'domain' | 'iommu';
  policy: 'hold' | 'abort';
  completionTimeoutNs: number;
}

/** The stall model's defaults (protocol/README.md §4.5). */
export const DEFAULT_STALL_MODEL: StallModel = {
  baseNs: 2_000_000,
  perEntryNs: 0,
  jitter: { dist: 'uniform', spreadNs: 500_000 },
  scope: 'domain',
  policy: 'hold',
  completionTimeoutNs: 50_000_000,
};
export type JitterDist = StallModel['jitter']['dist'];

export interface StallModelPatch {
  baseNs?: number;
  perEntryNs?: number;
  jitter?: { dist?: JitterDist; spreadNs?: number };
  scope?: StallModel['scope'];
  policy?: StallModel['policy'];
  completionTimeoutNs?: number;
}

/** Entries the engine rewrites per smash: one 4 KB table of 512 PTEs. */
export const ENTRIES_PER_SMASH = 512;

/** tmpm.setStallModel merges: absent fields keep their value. Validates the result. */
export function mergeStallModel(current: StallModel, patch: StallModelPatch): StallModel {
  const next: StallModel = {
    baseNs: patch.baseNs ?? current.baseNs,
    perEntryNs: patch.perEntryNs ?? current.perEntryNs,
    jitter: {
      dist: patch.jitter?.dist ?? current.jitter.dist,
      spreadNs: patch.jitter?.spreadNs ?? current.jitter.spreadNs,
    },
    scope: patch.scope ?? current.scope,
    policy: patch.policy ?? current.policy,
    completionTimeoutNs: patch.completionTimeoutNs ?? current.completionTimeoutNs,
  };
  validateStallModel(next);
  return next;
}

/**
 * Longest stall the model may describe, nominal plus spread: 10 s of virtual time
 * (the hardware stalls "a few ms"). A stall runs the clock in one step, so this also
 * bounds the work one firmware call can do. The per-value bounds below keep every
 * model well inside it (at most 1 + 0.512 + 4 x 0.25 = 2.512 s).
 */
export const MAX_STALL_NS = 10_000_000_000;

/**
 * Bounds of each value of the model (protocol/README.md §1.3), in ns. The hardware stalls
 * "a few ms"; these leave room for experiments three orders of magnitude beyond and
 * keep one stall's work bounded. The wire schemas (tmpm.setStallModel, scenario
 * `stallModel`) and the state loader all check them.
 */
export const STALL_MODEL_LIMITS = {
  /** 1 s. */
  baseNs: 1_000_000_000,
  /** 1 ms per PTE, 512 ms per smash. */
  perEntryNs: 1_000_000,
  /** 250 ms (the model allows up to 4 x spread above nominal). */
  spreadNs: 250_000_000,
  /** 10 s: a held request fails as timeout at arrival + this; no stall is longer. */
  completionTimeoutNs: 10_000_000_000,
} as const;

/**
 * Requests one stall may catch, counted as the running streams' total rate times
 * the model's longest stall (protocol/README.md §1.3: 20 ms at 1e9/s held 2e7 requests,
 * 3.6 GiB, and froze the server 39 s). Each held request is a record and an event:
 * 2^20 is about 200 MB and 2 s of work at worst. A smash past it is refused with
 * EMU_LIMIT before anything changes.
 */
export const MAX_REQUESTS_PER_STALL = 1_048_576;

/** The longest stall `m` can produce: nominal plus four spreads (none for dist none). */
export function longestStallNs(m: StallModel): number {
  return m.baseNs + ENTRIES_PER_SMASH * m.perEntryNs + m.jitter.spreadNs * (m.jitter.dist === 'none' ? 0 : 4);
}

export function validateStallModel(m: StallModel): void {
  for (const key of ['baseNs', 'perEntryNs', 'completionTimeoutNs'] as const) {
    if (!Number.isSafeInteger(m[key]) || m[key] < 0) throw invalidArgument(`stall model ${key} must be a non-negative integer (ns), got ${m[key]}`);
    if (m[key] > STALL_MODEL_LIMITS[key]) throw invalidArgument(`stall model ${key} ${m[key]} ns is past the limit of ${STALL_MODEL_LIMITS[key]} ns`, { path: [key] });
  }
  if (!Number.isSafeInteger(m.jitter.spreadNs) || m.jitter.spreadNs < 0) {
    throw invalidArgument(`stall model jitter.spreadNs must be a non-negative integer (ns), got ${m.jitter.spreadNs}`);
  }
  if (m.jitter.spreadNs > STALL_MODEL_LIMITS.spreadNs) {
    throw invalidArgument(`stall model jitter.spreadNs ${m.jitter.spreadNs} ns is past the limit of ${STALL_MODEL_LIMITS.spreadNs} ns`, { path: ['jitter', 'spreadNs'] });
  }
  if (!['none', 'uniform', 'normal', 'lognormal'].includes(m.jitter.dist)) {
    throw invalidArgument(`stall model jitter.dist must be one of none, uniform, normal, lognormal`);
  }
  const longest = longestStallNs(m);
  if (longest > MAX_STALL_NS) {
    throw invalidArgument(`stall model allows stalls up to ${longest} ns (baseNs + 512 x perEntryNs + 4 x spreadNs); the limit is ${MAX_STALL_NS} ns (10 s)`);
  }
  if (m.scope !== 'domain' && m.scope !== 'iommu') throw invalidArgument('stall model scope must be domain or iommu');
  if (m.policy !== 'hold' && m.policy !== 'abort') throw invalidArgument('stall model policy must be hold or abort');
}

/**
 * Draws one stall duration. Jitter: uniform in +/- spreadNs; normal with sd spreadNs;
 * lognormal with mean = the nominal duration and sd spreadNs (the nominal value is
 * then the distribution's mean, not an offset). Draws nothing when dist is none or
 * spreadNs is 0, so changing the model's jitter never shifts other random streams.
 */
export function sampleStallNs(m: StallModel, rng: SeededRng): number {
  const nominal = m.baseNs + ENTRIES_PER_SMASH * m.perEntryNs;
  const sd = m.jitter.spreadNs;
  if (m.jitter.dist === 'none' || sd === 0) return Math.max(0, nominal);
  let value: number;
  switch (m.jitter.dist) {
    case 'uniform':
      value = nominal + (rng.next() * 2 - 1) * sd;
      break;
    case 'normal':
      value = nominal + rng.normal() * sd;
      break;
    case 'lognormal': {
      if (nominal <= 0) return 0;
      const sigma2 = Math.log(1 + (sd * sd) / (nominal * nominal));
      const mu = Math.log(nominal) - sigma2 / 2;
      value = Math.exp(mu + Math.sqrt(sigma2) * rng.normal());
      break;
    }
  }
  return Math.max(0, Math.round(value));
}
