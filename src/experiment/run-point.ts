/**
 * One grid point on its own platform, built fresh from the spec's scenario with the
 * point's seed and clock: set the stall model, start one DMA stream over the regions
 * to smash, let it warm up, smash `smashes` regions one after another (the engine's
 * atomic smash, or the manual sequence with its race window), let it settle, and
 * read the stream's statistics. Nothing is shared between points, so they can run
 * in any order, on any thread, and a virtual-clock point gives the same numbers
 * every time.
 */
import { systemWallClock } from '../clock/wall-clock.js';
import { encodeInvalidatePages } from '../iommu/command.js';
import { encodeTablePointer } from '../iommu/pte.js';
import { createPlatform, type Platform } from '../platform/platform.js';
import type { Scenario } from '../platform/scenario.js';
import type { ExperimentSpec } from './experiment-spec.js';
import type { PointParams } from './grid.js';
import { streamLatencyCdf, type CdfPoint } from './latency-cdf.js';
import { prepareSmash, runSmash, setStallModel } from './smash-calls.js';
import { tdiCycle } from './tdi-calls.js';

const REGION_BYTES = 0x20_0000;

/** What a point needs besides its params: the parts of the spec every point shares. */
export interface PointContext {
  scenario: Scenario;
  target: ExperimentSpec['target'];
  timing: ExperimentSpec['timing'];
}

/** One smash of a point: the engine's result, or the manual sequence's. */
export interface SmashRecord {
  /** 2 MB-aligned IOVA of the region, hex. */
  iova: string;
  ok: boolean;
  /** Engine: its status name; manual: PSMASH's return-code name. */
  statusName: string;
  /** Engine: the stall it ran; manual: 0 (nothing holds DMA). */
  stallNs: number;
  /** Engine: requests its stall held; manual: 0. */
  dmaHeld: number;
  /** Manual: the race window (invalidation -> PSMASH); engine: null. */
  windowNs: number | null;
}

export interface PointMeasurement {
  issued: number;
  completed: number;
  held: number;
  /** rmpFaults + ioPageFaults. */
  faults: number;
  rmpFaults: number;
  ioPageFaults: number;
  timeouts: number;
  aborted: number;
  latencyNs: { p50: number; p90: number; p99: number; p999: number; max: number };
  /** Mean and longest stall of the point's smashes (0 for the manual sequence). */
  stallNs: number;
  stallMaxNs: number;
  /** Smashes that did not succeed (their status is in `smashList`). */
  smashFailures: number;
  smashList: SmashRecord[];
  cdf: CdfPoint[];
  /** Virtual time the stream ran, ns. */
  durationNs: number;
  /** TDI cycles: faults while the device was unbound (fenced, then untrusted), requests that completed then (leaks: 0 expected), cycles whose unbind or bind failed. */
  tdi: { cycles: number; unboundFaults: number; unboundCompleted: number; failures: number };
}

export async function runPoint(params: PointParams, ctx: PointContext): Promise<PointMeasurement> {
  const scenario: Scenario = { ...ctx.scenario, seed: params.seed, clock: { ...params.clock }, streams: [] };
  const p = createPlatform(scenario, { wall: systemWallClock });
  try {
    return await measure(p, params, ctx);
  } finally {
    p.dispose();
  }
}

async function measure(p: Platform, params: PointParams, ctx: PointContext): Promise<PointMeasurement> {
  const { target, timing } = ctx;
  setStallModel(p, params.stall);
  const { streamId } = p.dmaStartStream({
    deviceId: target.deviceId,
    iovaBase: target.iovaBase,
    length: params.smashes * REGION_BYTES,
    ...params.dma,
  });
  const startNs = p.clockNow().nowNs;
  await passTime(p, timing.warmupNs);
  const smashList: SmashRecord[] = [];
  for (let i = 0; i < params.smashes; i++) {
    if (i > 0) await passTime(p, timing.gapNs);
    const iova = target.iovaBase + BigInt(i * REGION_BYTES);
    smashList.push(params.sequence === 'engine' ? await engineSmash(p, target.domainId, iova) : await manualSmash(p, target.domainId, iova, params.windowNs ?? 0));
  }
  const tdi = { cycles: params.tdiCycles, unboundFaults: 0, unboundCompleted: 0, failures: 0 };
  for (let i = 0; i < params.tdiCycles; i++) {
    await passTime(p, timing.gapNs);
    const c = await tdiCycle(p, target.deviceId, streamId, () => passTime(p, timing.gapNs));
    tdi.unboundFaults += c.unboundFaults;
    tdi.unboundCompleted += c.unboundCompleted;
    if (!c.ok) tdi.failures++;
  }
  await passTime(p, timing.settleNs);
  p.dmaStopStream(streamId);
  const durationNs = p.clockNow().nowNs - startNs;
  const s = p.dmaStats({ streamId });
  const stalls = smashList.map((r) => r.stallNs);
  return {
    issued: s.issued,
    completed: s.completed,
    held: s.held,
    faults: s.rmpFaults + s.ioPageFaults,
    rmpFaults: s.rmpFaults,
    ioPageFaults: s.ioPageFaults,
    timeouts: s.timeouts,
    aborted: s.aborted,
    latencyNs: { ...s.latencyNs },
    stallNs: Math.round(stalls.reduce((a, b) => a + b, 0) / stalls.length),
    stallMaxNs: Math.max(...stalls),
    smashFailures: smashList.filter((r) => !r.ok).length,
    smashList,
    cdf: streamLatencyCdf(p, streamId),
    durationNs,
    tdi,
  };
}

async function engineSmash(p: Platform, domainId: number, iova: bigint): Promise<SmashRecord> {
  const plan = prepareSmash(p, domainId, iova);
  const r = await runSmash(p, plan);
  return { iova: `0x${iova.toString(16)}`, ok: r.ok, statusName: r.statusName, stallNs: r.stallNs, dmaHeld: r.dmaHeld, windowNs: null };
}

/**
 * The VMM's sequence without the engine (the LKML thread: "After I smash IO PDE,
 * there is a small window before smashing an RMP entry"): point the IOPDE at the
 * prepared table, INVALIDATE_IOMMU_PAGES for the 2 MB, let `windowNs` pass, PSMASH.
 * In the window, DMA walks to a 4 KB leaf over a still-2 MB RMP entry and faults.
 */
async function manualSmash(p: Platform, domainId: number, iova: bigint, windowNs: number): Promise<SmashRecord> {
  const plan = prepareSmash(p, domainId, iova);
  p.memWrite64(plan.srcHpmdSpa, [encodeTablePointer(plan.tableSpa, 1)]);
  const [q0, q1] = encodeInvalidatePages(domainId, iova, 21);
  p.iommuCommand(q0, q1);
  await passTime(p, windowNs);
  const r = p.rmpPsmash(plan.regionSpa);
  return { iova: `0x${iova.toString(16)}`, ok: r.rc === 0, statusName: r.rcName, stallNs: 0, dmaHeld: 0, windowNs };
}

/** Lets `ns` of virtual time pass: clock.advance in virtual mode, a wall-clock wait in realtime. */
async function passTime(p: Platform, ns: number): Promise<void> {
  if (ns <= 0) return;
  const now = p.clockNow();
  if (now.mode === 'virtual') {
    await p.clockAdvance(ns);
    return;
  }
  const target = now.nowNs + ns;
  await new Promise<void>((resolve) => setTimeout(resolve, ns / now.speed / 1e6));
  // The timer may fire a little early by the virtual clock: wait out the rest.
  for (p.syncClock(); p.clockNow().nowNs < target; p.syncClock()) await new Promise<void>((resolve) => setTimeout(resolve, 1));
}
