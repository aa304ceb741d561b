/**
 * The stall gate the TMPM closes around a smash (protocol/README.md §4.3.5,
 * Effect, and §4.5): a request of a device in scope arriving in
 * [startNs, endNs) is held until endNs (policy hold) or fails at once (policy
 * abort); a held request whose wait would pass completionTimeoutNs fails as
 * `timeout` at arrival + completionTimeoutNs. This file decides which stall governs
 * a request; the engine moves the requests.
 */
import type { ClockEvent } from '../clock/event-queue.js';
import { invalidArgument } from '../util/emu-error.js';
import type { StallWindow } from './dma-stats.js';
import type { HeldRequest } from './held-request.js';
import type { DmaPort } from '../iommu/dma-port.js';
import type { HeldMerge, HeldRun } from './held-runs.js';

export type StallScope = 'domain' | 'iommu';
export type StallPolicy = 'hold' | 'abort';

export interface StallParams {
  scope: StallScope;
  /** The smashed domain (ignored for scope iommu). */
  domainId: number;
  /** Must be the clock's current time: the TMPM swaps the tables then. */
  startNs: number;
  endNs: number;
  policy: StallPolicy;
  completionTimeoutNs: number;
}

/** What the TMPM keeps of a stall it began (for `dmaHeld` in its result). */
export interface StallHandle {
  /** The stall's id (kept in state documents, so a restored smash finds its stall again). */
  readonly id: number;
  /** Requests this stall made wait (released or timed out). */
  readonly heldCount: number;
  readonly endNs: number;
}

export class Stall implements StallHandle {
  heldCount = 0;
  /** Requests to release at endNs, in arrival order. */
  held: HeldRequest[] = [];
  /**
   * held[0..releasedUpTo) are released already: a release of many requests runs in
   * parts, each within a clock chunk's work budget, so the server answers in between.
   */
  releasedUpTo = 0;
  /** Held arrivals of fixed-rate streams as runs (held-runs.ts), beside `held`. */
  runs: HeldRun[] = [];
  /** While a release with runs is under way: what is left of it, in release order. */
  merge: HeldMerge | null = null;
  releaseEvent: ClockEvent | null = null;
  readonly window: StallWindow;

  constructor(
    readonly id: number,
    readonly scope: StallScope,
    readonly domainId: number,
    readonly startNs: number,
    readonly endNs: number,
    readonly policy: StallPolicy,
    readonly completionTimeoutNs: number,
    /** A restored stall shares its window record with the counters that list it. */
    window?: StallWindow,
  ) {
    this.window = window ?? { startNs, endNs, scope, domainId };
  }

  covers(deviceDomain: number): boolean {
    return this.scope === 'iommu' || deviceDomain === this.domainId;
  }
}

function isNs(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function checkStallParams(p: StallParams, nowNs: number): void {
  if (p.scope !== 'domain' && p.scope !== 'iommu') throw invalidArgument(`scope must be 'domain' or 'iommu', got ${String(p.scope)}`, { field: 'scope' });
  if (p.policy !== 'hold' && p.policy !== 'abort') throw invalidArgument(`policy must be 'hold' or 'abort', got ${String(p.policy)}`, { field: 'policy' });
  if (typeof p.domainId !== 'number' || !Number.isInteger(p.domainId)) throw invalidArgument(`domainId must be an integer, got ${String(p.domainId)}`, { field: 'domainId' });
  if (p.startNs !== nowNs) throw invalidArgument(`startNs must be the clock's current time ${nowNs}, got ${String(p.startNs)}`, { field: 'startNs' });
  if (!isNs(p.endNs) || p.endNs < p.startNs) throw invalidArgument(`endNs must be an integer ns >= startNs (${p.startNs}), got ${String(p.endNs)}`, { field: 'endNs' });
  if (!isNs(p.completionTimeoutNs)) throw invalidArgument(`completionTimeoutNs must be an integer ns >= 0, got ${String(p.completionTimeoutNs)}`, { field: 'completionTimeoutNs' });
}

export class StallGate {
  /** Stalls begun and not yet released, in the order they began. */
  active: Stall[] = [];
  nextId = 1;

  /**
   * The stall governing a request of `deviceId` arriving at `nowNs`, or null. Several
   * stalls may overlap (different domains, or an iommu-wide one): an abort stall wins
   * (the request cannot wait), else the hold stall that ends last, since the device
   * may not run before every stall covering it has ended. Ties go to the earlier stall.
   */
  governing(deviceId: number, nowNs: number, port: DmaPort): Stall | null {
    const active = this.active;
    if (active.length === 0) return null;
    let domain = -2;
    let best: Stall | null = null;
    for (let i = 0; i < active.length; i++) {
      const s = active[i] as Stall;
      if (nowNs < s.startNs || nowNs >= s.endNs) continue;
      if (s.scope === 'domain') {
        if (domain === -2) domain = port.domainOf(deviceId);
        if (domain !== s.domainId) continue;
      }
      if (s.policy === 'abort') return s;
      if (best === null || s.endNs > best.endNs) best = s;
    }
    return best;
  }

  remove(s: Stall): void {
    const i = this.active.indexOf(s);
    if (i >= 0) this.active.splice(i, 1);
  }

  isActive(w: StallWindow): boolean {
    return this.active.some((s) => s.window === w);
  }
}
